#!/usr/bin/env node
// Bundle the CLI into one file after tsc: dist/cli/index.js is replaced by itself with every module it
// imports inlined, except better-sqlite3 (a native addon). Loading ~220 small modules cost ~0.25 s of CPU
// at every start (resolution, stat, package.json reads, compiling each); the bundle starts in about half
// the time, which counts for `vocut status` in monitoring loops, SLURM array tasks and the test suite's
// hundreds of CLI runs. The other files of dist/ stay as tsc wrote them (benchmarks import them).
import { build } from "esbuild";

const entry = new URL("../dist/cli/index.js", import.meta.url).pathname;
await build({
  entryPoints: [entry],
  outfile: entry,
  allowOverwrite: true,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["better-sqlite3"],
  // CommonJS dependencies (commander, undici) call require() for Node's own modules.
  banner: {
    js: 'import { createRequire as __vocutRequire } from "node:module";\nconst require = __vocutRequire(import.meta.url);',
  },
  logLevel: "warning",
});
