#!/usr/bin/env node
// --store tar against --store files (issue 12). Prints figures; asserts nothing.
// The local-HiPS job: N targets (default 10,000) x 3 bands of 28x28 stamps cut from the bundled sample
// HiPS (fixtures/hips), run with each store in turn, ROUNDS times (default 3) alternating, in one run of
// this script; reports the median stamps/s of the fetch phase (the summary's seconds) and of the whole
// command (plan included), the CPU time per stamp (user + system, from /usr/bin/time where present: less
// sensitive than wall time to a loaded machine), the ratios, and the files each store leaves in OUT
// besides the ledger.
// Build first (npm run build). Usage: node bench/tar-store.mjs [N] [ROUNDS]
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "..");
const CLI = join(ROOT, "dist/cli/index.js");
const N = Number(process.argv[2] ?? 10_000);
const ROUNDS = Number(process.argv[3] ?? 3);
const work = mkdtempSync(join(tmpdir(), "vocut-tar-bench-"));
const HIPS = ["g", "r", "i"].map((b) => `${b}=${join(ROOT, `fixtures/hips/sample-${b}`)}`).join(",");

// The sample field: 400 x 0.8" around (150.1, 2.2); targets 20" inside its edges.
const half = (400 * 0.8) / 2 / 3600 - 20 / 3600;
let x = 12345;
const rnd = () => {
  x = (x * 1103515245 + 12345) % 2147483648;
  return x / 2147483648;
};
const lines = ["id,ra,dec"];
for (let i = 0; i < N; i++)
  lines.push(
    `t${i},${(150.1 + (rnd() * 2 - 1) * half).toFixed(7)},${(2.2 + (rnd() * 2 - 1) * half).toFixed(7)}`,
  );
const cat = join(work, "field.csv");
writeFileSync(cat, `${lines.join("\n")}\n`);

/** Files under dir (recursively), without the ledger and the shared-download cache. */
function countFiles(dir) {
  let n = 0;
  for (const name of readdirSync(dir)) {
    if (name.startsWith("vocut.db") || name === ".vocut-cache") continue;
    const p = join(dir, name);
    n += statSync(p).isDirectory() ? countFiles(p) : 1;
  }
  return n;
}

function once(store, round) {
  const out = join(work, `${store}-${round}`);
  const args = [
    CLI,
    "run",
    cat,
    "--out",
    out,
    "--hips",
    HIPS,
    "--size",
    "28",
    "--pixscale",
    "0.4",
    "--store",
    store,
    "--json",
    "-q",
  ];
  const timed = existsSync("/usr/bin/time");
  const t0 = process.hrtime.bigint();
  const r = timed
    ? spawnSync("/usr/bin/time", ["-f", "CPU %U %S", process.execPath, ...args], {
        encoding: "utf8",
        maxBuffer: 1 << 30,
      })
    : spawnSync(process.execPath, args, { encoding: "utf8", maxBuffer: 1 << 30 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${store}: exit ${r.status}\n${r.stderr}`);
  const cpu = /CPU ([\d.]+) ([\d.]+)/.exec(r.stderr);
  const cpuSec = cpu === null ? Number.NaN : Number(cpu[1]) + Number(cpu[2]);
  const summary = r.stdout
    .split("\n")
    .filter((l) => l.includes('"type":"summary"'))
    .map((l) => JSON.parse(l))[0];
  const files = countFiles(out);
  rmSync(out, { recursive: true, force: true });
  return { done: summary.done, fetchSec: summary.seconds, wall, cpuSec, files };
}

const median = (a) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
const results = { files: [], tar: [] };
for (let i = 0; i < ROUNDS; i++) {
  for (const store of i % 2 === 0 ? ["files", "tar"] : ["tar", "files"]) {
    const r = once(store, i);
    results[store].push(r);
    console.log(
      `round ${i + 1} --store ${store}: ${r.done} stamps, fetch ${r.fetchSec.toFixed(2)} s (${(r.done / r.fetchSec).toFixed(0)} stamps/s), whole command ${r.wall.toFixed(2)} s, CPU ${((r.cpuSec / r.done) * 1e6).toFixed(0)} us/stamp, ${r.files} file(s) in OUT besides the ledger`,
    );
  }
}
const rate = (s, k) => median(results[s].map((r) => r.done / r[k]));
const cpuPer = (s) => median(results[s].map((r) => (r.cpuSec / r.done) * 1e6));
console.log(`\nlocal HiPS, ${N} targets x 3 bands, median of ${ROUNDS}:`);
for (const s of ["files", "tar"])
  console.log(
    `  --store ${s.padEnd(5)}: fetch ${rate(s, "fetchSec").toFixed(0)} stamps/s, whole command ${rate(s, "wall").toFixed(0)} stamps/s, CPU ${cpuPer(s).toFixed(0)} us/stamp, files in OUT ${median(results[s].map((r) => r.files))}`,
  );
console.log(
  `  tar / files: fetch ${(rate("tar", "fetchSec") / rate("files", "fetchSec")).toFixed(2)}x, whole command ${(rate("tar", "wall") / rate("files", "wall")).toFixed(2)}x, CPU per stamp ${(cpuPer("files") / cpuPer("tar")).toFixed(2)}x less`,
);
rmSync(work, { recursive: true, force: true });
