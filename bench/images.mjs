#!/usr/bin/env node
// Local survey folder benchmark (issue 6, part 8, `--images`). Prints figures; asserts nothing.
// 20 survey images on disk (5 files like UKIDSS: an empty primary and 4 detector extensions of
// 1024 x 1024 float32 at 0.4"/px, TAN, with gaps between detectors and overlaps between files), 10,000
// targets over them (some in gaps: no_coverage). Measures:
//  1. index time: first run (every file read) and an unchanged re-index (no file read), in-process;
//  2. stamps per second and peak memory (max RSS) of `vocut run --images --size 64`, picked and co-added
//     (mean), with the default 256 MiB image cache;
//  3. a resume of the finished job (nothing to do: index check + planning).
// Build first (npm run build). Usage: node bench/images.mjs
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { encodeImage } from "../dist/fits/image.js";
import { ImageIndexStore } from "../dist/ledger/image-index.js";
import { updateImageIndex } from "../dist/sources/images/scan-images.js";

const ROOT = resolve(import.meta.dirname, "..");
const CLI = join(ROOT, "dist/cli/index.js");
const work = mkdtempSync(join(tmpdir(), "vocut-images-bench-"));
const survey = join(work, "survey");
const N = 1024;
const SCALE = 0.4 / 3600;
const RA0 = 150;
const DEC0 = 2;

function rnd(seed) {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}

function wcsCards(ra, dec) {
  return [
    { key: "CTYPE1", value: "RA---TAN" },
    { key: "CTYPE2", value: "DEC--TAN" },
    { key: "CRVAL1", value: ra },
    { key: "CRVAL2", value: dec },
    { key: "CRPIX1", value: (N + 1) / 2 },
    { key: "CRPIX2", value: (N + 1) / 2 },
    { key: "CD1_1", value: -SCALE },
    { key: "CD1_2", value: 0 },
    { key: "CD2_1", value: 0 },
    { key: "CD2_2", value: SCALE },
    { key: "RADESYS", value: "ICRS" },
  ];
}

// Five pointings along RA, each a 2 x 2 detector mosaic with 10% gaps; neighbours overlap by ~15%.
const det = N * SCALE;
const files = [];
const r = rnd(7);
mkdirSync(survey, { recursive: true });
const tGen = Date.now();
for (let f = 0; f < 5; f++) {
  const raC = RA0 + f * 1.9 * det;
  const hdus = [encodeImage({ bitpix: 8, shape: [], data: [], cards: [{ key: "FILTER", value: "K" }] })];
  for (let d = 0; d < 4; d++) {
    const ra = raC + ((d % 2) - 0.5) * 1.1 * det;
    const dec = DEC0 + (Math.floor(d / 2) - 0.5) * 1.1 * det;
    const data = new Float32Array(N * N);
    for (let i = 0; i < data.length; i++) data[i] = 100 + f * 10 + d + r();
    hdus.push(encodeImage({ bitpix: -32, shape: [N, N], data, extension: true, cards: wcsCards(ra, dec) }));
  }
  const p = join(survey, `w${f}.fits`);
  writeFileSync(p, Buffer.concat(hdus));
  files.push(p);
}
const genS = (Date.now() - tGen) / 1000;

const lines = ["id,ra,dec"];
const rt = rnd(11);
const raSpan = (4 * 1.9 + 2.2) * det;
for (let i = 0; i < 10_000; i++) {
  const ra = RA0 - 1.1 * det + rt() * raSpan;
  const dec = DEC0 + (rt() * 2 - 1) * 1.1 * det;
  lines.push(`t${i},${ra.toFixed(7)},${dec.toFixed(7)}`);
}
const catalog = join(work, "targets.csv");
writeFileSync(catalog, `${lines.join("\n")}\n`);

function index() {
  const store = ImageIndexStore.inMemory();
  const t0 = process.hrtime.bigint();
  return updateImageIndex(store, survey, null).then(async (first) => {
    const t1 = process.hrtime.bigint();
    const again = await updateImageIndex(store, survey, null);
    const t2 = process.hrtime.bigint();
    return { first, firstMs: Number(t1 - t0) / 1e6, again, againMs: Number(t2 - t1) / 1e6 };
  });
}

function run(label, extra) {
  const out = join(work, label);
  const args = [CLI, "run", catalog, "--images", survey, "--size", "64", "--out", out, "--json", ...extra];
  const t0 = Date.now();
  const p = spawnSync("/usr/bin/time", ["-f", "%M", process.execPath, ...args], {
    encoding: "utf8",
    maxBuffer: 2 ** 28,
  });
  const secs = (Date.now() - t0) / 1000;
  const summary = p.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .find((e) => e.type === "summary");
  const rssKb = Number(p.stderr.trim().split("\n").pop());
  if (summary === undefined) throw new Error(`${label}: exit ${p.status}: ${p.stderr}`);
  return { secs, summary, rssMb: rssKb / 1024, out };
}

const ix = await index();
console.log(
  `survey: 5 files x 4 extensions of ${N}x${N} float32 = 20 images, ${((5 * 4 * N * N * 4) / 2 ** 20).toFixed(0)} MiB (generated in ${genS.toFixed(1)} s)`,
);
console.log(
  `index: ${ix.first.images} image HDUs from ${ix.first.read} files in ${ix.firstMs.toFixed(0)} ms; ` +
    `unchanged re-index ${ix.againMs.toFixed(1)} ms (${ix.again.read} files read)`,
);
for (const [label, extra] of [
  ["pick", []],
  ["coadd-mean", ["--coadd", "mean"]],
]) {
  const r1 = run(label, extra);
  const s = r1.summary;
  const stamps = s.done + s.no_coverage;
  console.log(
    `${label}: ${s.done} stamps + ${s.no_coverage} no_coverage in ${r1.secs.toFixed(1)} s ` +
      `(${(stamps / r1.secs).toFixed(0)} tasks/s incl. start, index and planning), max RSS ${r1.rssMb.toFixed(0)} MiB`,
  );
  if (label === "pick") {
    const t0 = Date.now();
    const again = spawnSync(process.execPath, [
      CLI,
      "run",
      catalog,
      "--images",
      survey,
      "--size",
      "64",
      "--out",
      r1.out,
      "--quiet",
    ]);
    console.log(
      `resume of the finished job (index check, planning, nothing to cut): ${((Date.now() - t0) / 1000).toFixed(1)} s, exit ${again.status}`,
    );
  }
}
rmSync(work, { recursive: true, force: true });
