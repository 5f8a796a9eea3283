#!/usr/bin/env node
// The layer check (docs/ARCHITECTURE.md): every relative import in src/ must run down the layers.
// Prints each upward import as "file -> target (layer a imports layer b)" and exits 1 when there is one
// that is not in KNOWN below, or when a KNOWN entry no longer occurs (so the list only shrinks).
// Run by `npm run lint`.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

// The project root; a test passes another tree as the first argument.
const root = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "src");

/**
 * Layer of each top-level folder of src/ (files directly in src/ are layer 0). A file may import its own
 * folder and any lower layer; peers in one layer may import each other only where PEERS says so.
 */
const LAYER = {
  sky: 1,
  healpix: 1,
  fits: 1,
  wcs: 2,
  votable: 2,
  catalog: 2,
  fetch: 2,
  output: 2,
  ledger: 3,
  // The Source interface and factory, and under sources/<kind>/ each kind's adapter and protocol code.
  sources: 5,
  plan: 6,
  presets: 6,
  run: 7,
  export: 7,
  preview: 7,
  cli: 8,
};

/** Same-layer imports that are part of the design. */
const PEERS = new Set(["catalog->votable", "preview->export"]);

/**
 * Upward imports tolerated while a move is under way (issue 11 emptied it). An entry that no longer
 * occurs fails the check: delete it here in the same change.
 */
const KNOWN = new Set([]);

function* walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (e.name.endsWith(".ts")) yield p;
  }
}

function folderOf(file) {
  const rel = relative(src, file).split("/");
  return rel.length === 1 ? "" : rel[0];
}

function layerOf(folder) {
  if (folder === "") return 0;
  const l = LAYER[folder];
  if (l === undefined)
    throw new Error(`src/${folder}/ has no layer in scripts/check-layers.mjs: give it one`);
  return l;
}

const found = [];
const seenKnown = new Set();
const importRe = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"|import\("(\.[^"]+)"\)/g;
for (const file of walk(src)) {
  const text = readFileSync(file, "utf8");
  const from = folderOf(file);
  for (const m of text.matchAll(importRe)) {
    const spec = m[1] ?? m[2];
    const target = normalize(join(dirname(file), spec));
    const to = folderOf(target);
    if (to === from) continue;
    const a = layerOf(from);
    const b = layerOf(to);
    const upward = b > a || (b === a && !PEERS.has(`${from}->${to}`));
    // The run loop is generic: it may know the Source interface and the factory, never a kind of source
    // (a file under sources/<kind>/).
    const kindInRun =
      from === "run" && to === "sources" && relative(join(src, "sources"), target).includes("/");
    if (!upward && !kindInRun) continue;
    const key = `${relative(root, file)} -> src/${to}`;
    if (KNOWN.has(key)) {
      seenKnown.add(key);
      continue;
    }
    found.push(
      `${key}  (${from || "src"} is layer ${a}, ${to} is layer ${b}${kindInRun ? ": run names a kind of source" : ""})`,
    );
  }
}
// The run loop names no kind of source either: a string literal equal to a kind (a folder under
// sources/) in run/ is a branch on the kind, which belongs in the Source interface.
const sourcesDir = join(src, "sources");
const kinds = existsSync(sourcesDir)
  ? readdirSync(sourcesDir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
  : [];
const runDir = join(src, "run");
if (kinds.length > 0 && existsSync(runDir)) {
  const kindRe = new RegExp(`["'\`](${kinds.join("|")})["'\`]`, "g");
  for (const file of walk(runDir)) {
    const lines = readFileSync(file, "utf8").split("\n");
    lines.forEach((line, i) => {
      if (/^\s*(\/\/|\*|\/\*)/.test(line)) return; // comments may name kinds
      for (const m of line.matchAll(kindRe))
        found.push(
          `${relative(root, file)}:${i + 1} names the source kind "${m[1]}": run names a kind of source`,
        );
    });
  }
}
// A tree without the known files (a test's) checks only for new upward imports.
const stale = process.argv[2] === undefined ? [...KNOWN].filter((k) => !seenKnown.has(k)) : [];
for (const f of [...new Set(found)]) console.error(`upward import: ${f}`);
for (const s of stale) console.error(`check-layers: "${s}" no longer occurs: remove it from KNOWN`);
if (found.length > 0 || stale.length > 0) process.exit(1);
console.log(`layers: ${seenKnown.size} known upward import(s) left, no new one`);
