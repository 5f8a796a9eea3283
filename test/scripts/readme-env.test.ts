import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { OPTION_TABLE } from "../../src/cli/options.js";

const root = join(import.meta.dirname, "../..");

describe("README's environment variables (scripts/readme-env.mjs)", () => {
  it("list every variable of the option table, as the script writes them", () => {
    const r = spawnSync(process.execPath, [join(root, "scripts/readme-env.mjs"), "--check"], {
      encoding: "utf8",
    });
    expect(r.stdout + r.stderr).toMatch(/match the option table/);
    expect(r.status).toBe(0);
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const vars = OPTION_TABLE.flatMap((row) => ("env" in row && row.env !== undefined ? [row.env] : []));
    expect(vars.length).toBeGreaterThan(5);
    for (const v of vars) expect(readme).toContain(`| \`${v}\` |`);
  });
});
