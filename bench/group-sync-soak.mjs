#!/usr/bin/env node
// Soak of grouped durable writes under a slow, jittery shared disk (issue 15): writers stage files
// continuously while every group sync takes a random 0-600 ms (then the real fsyncs), for DURATION
// seconds of real time (default 1200 = 20 min). Prints files staged and settled, the longest wait of a
// file for its group, and exits 1 if any file is stranded (staged but never renamed) or a write fails.
//
//   npm run build && node bench/group-sync-soak.mjs [DURATION_S] [FILES_PER_S]
import { mkdtempSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AtomicWriter } from "../dist/output/write-atomic.js";

const durationS = Number(process.argv[2] ?? 1200);
const perSec = Number(process.argv[3] ?? 200);
const dir = mkdtempSync(join(tmpdir(), "vocut-soak-"));
let seed = 42;
const rand = () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
};
let syncs = 0;
const writer = new AtomicWriter(dir, {
  async makeDurable(tmps) {
    syncs++;
    await new Promise((r) => setTimeout(r, rand() * 600));
    await Promise.all(
      tmps.map(async (t) => {
        const h = await open(t, "r+");
        await h.datasync();
        await h.close();
      }),
    );
  },
});
writer.prepare();
const body = Buffer.alloc(8640, 7);
let staged = 0;
let settled = 0;
let failed = 0;
let longestMs = 0;
let lastSettle = Date.now();
let longestGapMs = 0;
const t0 = Date.now();
const end = t0 + durationS * 1000;
const ticker = setInterval(() => {
  const gap = Date.now() - lastSettle;
  longestGapMs = Math.max(longestGapMs, staged > settled + failed ? gap : 0);
}, 250);
let i = 0;
while (Date.now() < end) {
  // Bursts of 1-40 files, then a pause: some groups fill in one timer, some straddle a slow sync.
  const burst = 1 + Math.floor(rand() * 40);
  for (let k = 0; k < burst; k++) {
    // Names repeat (a rename replaces the older file), so the disk use stays bounded.
    const name = `d${i % 50}/f${i % 5000}.fits`;
    i++;
    const started = Date.now();
    staged++;
    writer.writeGrouped(join(dir, name), body).then(
      () => {
        settled++;
        lastSettle = Date.now();
        longestMs = Math.max(longestMs, Date.now() - started);
      },
      () => failed++,
    );
  }
  await new Promise((r) => setTimeout(r, (burst / perSec) * 1000 * (0.5 + rand())));
}
const drainStart = Date.now();
await writer.drain();
clearInterval(ticker);
writer.close();
const stranded = staged - settled - failed;
console.log(
  `soak ${((Date.now() - t0) / 1000).toFixed(0)} s: ${staged} staged, ${settled} settled, ${failed} failed, ${stranded} stranded; ` +
    `${syncs} group syncs; longest wait of a file ${longestMs} ms; longest spell with files waiting and none settling ${longestGapMs} ms; final drain ${Date.now() - drainStart} ms`,
);
rmSync(dir, { recursive: true, force: true });
process.exit(stranded === 0 && failed === 0 ? 0 : 1);
