#!/usr/bin/env node
// Client-side HiPS cutout benchmarks (issue 3). Prints figures; asserts nothing.
//  1. requests per cutout against distinct tiles touched: a dense field (10,000 targets inside the
//     bundled sample HiPS, ~0.0079 deg^2 - denser than 10,000 per deg^2) and a sparse one (200
//     targets), served over HTTP from fixtures/hips/sample-g by a local server that counts requests.
//  2. microseconds to plan + resample one 28x28 bilinear (and nearest) stamp from tiles in memory.
// Build first (npm run build). Usage: node bench/hips.mjs
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { readImage } from "../dist/fits/image.js";
import { parseHipsProperties, tilePath } from "../dist/sources/hips/properties.js";
import { planStamp, sampleStamp } from "../dist/sources/hips/resample.js";
import { writeFieldCatalog } from "./lib/hips-field.mjs";

const ROOT = resolve(import.meta.dirname, "..");
const HIPS = join(ROOT, "fixtures/hips");
const CLI = join(ROOT, "dist/cli/index.js");
const work = mkdtempSync(join(tmpdir(), "vocut-hips-bench-"));
function catalog(name, n, seed) {
  return writeFieldCatalog(join(work, name), n, seed);
}

async function requestsPerCutout(label, n) {
  const seen = new Map();
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    seen.set(path, (seen.get(path) ?? 0) + 1);
    try {
      const body = readFileSync(join(HIPS, path));
      res.writeHead(200, { "content-length": body.length });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}/sample-g`;
  const cat = catalog(`${label}.csv`, n, n);
  const out = join(work, label);
  const t0 = Date.now();
  const r = await new Promise((res) => {
    const c = spawn(
      process.execPath,
      [
        CLI,
        "run",
        cat,
        "--out",
        out,
        "--hips",
        `g=${url}`,
        "--size",
        "28",
        "--pixscale",
        "0.8",
        "--rate",
        "200",
        "--concurrency",
        "8",
        "--quiet",
      ],
      { stdio: "inherit" },
    );
    c.on("close", res);
  });
  const wall = (Date.now() - t0) / 1000;
  server.close();
  const tiles = [...seen.keys()].filter((k) => k.includes("/Norder"));
  const requests = [...seen.entries()].filter(([k]) => k.includes("/Norder")).reduce((a, [, v]) => a + v, 0);
  const again = spawnSync(process.execPath, [CLI, "status", out, "--json"]);
  const st = JSON.parse(again.stdout.toString());
  console.log(
    `${label.padEnd(7)} ${String(n).padStart(6)} targets: exit ${r}, ${st.byState.done} done; tile requests ${requests} for ${tiles.length} distinct tiles ` +
      `(${(requests / n).toFixed(4)} per cutout; + ${seen.get("/sample-g/properties") ?? 0} properties); wall ${wall.toFixed(1)} s`,
  );
}

function resampleSpeed(interp) {
  const props = parseHipsProperties(readFileSync(join(HIPS, "sample-g/properties"), "utf8"), "sample-g");
  const grid = { order: props.order, tileWidth: props.tileWidth, frame: props.frame };
  const cache = new Map();
  const tile = (n) => {
    if (!cache.has(n))
      cache.set(n, readImage(readFileSync(join(HIPS, "sample-g", tilePath(props.order, n)))).data);
    return cache.get(n);
  };
  const geom = { widthPx: 28, heightPx: 28, pixscaleArcsec: 0.8 };
  const pts = Array.from({ length: 200 }, (_, i) => [
    150.1 + ((i % 20) - 10) * 0.002,
    2.2 + (Math.floor(i / 20) - 5) * 0.003,
  ]);
  for (const [ra, dec] of pts) {
    const p = planStamp(ra, dec, geom, grid, interp);
    p.tiles.forEach(tile);
  }
  let sink = 0;
  const rounds = 50;
  // Warm-up: let the JIT compile the hot path before timing.
  for (const [ra, dec] of pts) sink += sampleStamp(planStamp(ra, dec, geom, grid, interp), []).data.length;
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) {
    for (const [ra, dec] of pts) {
      const p = planStamp(ra, dec, geom, grid, interp);
      const { data } = sampleStamp(p, p.tiles.map(tile));
      sink += data[0];
    }
  }
  const us = Number(process.hrtime.bigint() - t0) / 1000 / (rounds * pts.length);
  // Five bands on one tile grid: the source plans a target once and samples each band's tiles.
  const t1 = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) {
    for (const [ra, dec] of pts) {
      const p = planStamp(ra, dec, geom, grid, interp);
      const tiles = p.tiles.map(tile);
      for (let b = 0; b < 5; b++) sink += sampleStamp(p, tiles).data[0];
    }
  }
  const us5 = Number(process.hrtime.bigint() - t1) / 1000 / (rounds * pts.length * 5);
  console.log(
    `resample one 28x28 stamp (${interp}, tiles in memory): ${us.toFixed(1)} us alone; ` +
      `${us5.toFixed(1)} us per cutout in a 5-band job (plan shared)  [sink ${sink.toFixed(0)}]`,
  );
}

try {
  console.log(`vocut HiPS bench on node ${process.version}`);
  await requestsPerCutout("dense", 10_000);
  await requestsPerCutout("sparse", 200);
  resampleSpeed("bilinear");
  resampleSpeed("nearest");
} finally {
  rmSync(work, { recursive: true, force: true });
}
