#!/usr/bin/env node
// The README's list of environment variables, generated from the option table (src/cli/options.ts via
// dist/), so it cannot miss one. Rewrites the block between the markers below in README.md;
// `--check` only compares and exits 1 when the README is stale (run by the test suite).
// Needs `npm run build` first.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const readme = join(root, "README.md");
const BEGIN = "<!-- env:begin (scripts/readme-env.mjs writes this list from the option table) -->";
const END = "<!-- env:end -->";

const { OPTION_TABLE, COMMAND_OPTIONS } = await import(join(root, "dist/cli/options.js"));

/** The long flag of a row ("--rate <n>" -> "--rate"). */
const long = (flags) => /--[a-z0-9-]+/.exec(flags)?.[0] ?? flags;

export function envBlock() {
  const rows = OPTION_TABLE.filter((r) => r.env !== undefined);
  const lines = rows.map((r) => {
    const cmds = Object.entries(COMMAND_OPTIONS)
      .filter(([, list]) => list.some((x) => x.key === r.key))
      .map(([c]) => c);
    return `| \`${r.env}\` | \`${long(r.flags)}\` | ${cmds.join(", ")} |`;
  });
  return [BEGIN, "| variable | sets | on |", "| --- | --- | --- |", ...lines, END].join("\n");
}

const text = readFileSync(readme, "utf8");
const a = text.indexOf(BEGIN);
const b = text.indexOf(END);
if (a < 0 || b < a) {
  console.error(`README.md has no ${BEGIN} ... ${END} block`);
  process.exit(1);
}
const next = text.slice(0, a) + envBlock() + text.slice(b + END.length);
if (process.argv.includes("--check")) {
  if (next !== text) {
    console.error(
      "README.md's environment variables differ from the option table: run node scripts/readme-env.mjs",
    );
    process.exit(1);
  }
  console.log("README.md's environment variables match the option table");
} else if (next !== text) {
  writeFileSync(readme, next);
  console.log("README.md: environment variables rewritten");
}
