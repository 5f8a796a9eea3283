#!/usr/bin/env node
// 8-bit HiPS tiles (issue 14, part 2). Prints figures; asserts nothing. Ratios within one run, median of 3.
//  1. decode time of one 512x512 tile: PNG (pngjs) and JPEG (jpeg-js, quality 90), as vocut decodes them
//     (decodeTile: RGBA -> channels in FITS order), against a float32 FITS tile of the same size.
//  2. the 55 Hipsgen tiles (64x64) of fixtures/hips/sample-g{,-png,-jpg} and sample-irg-png: ms per tile.
// The default politeness is 5 requests/s per host: a decoder at N ms/tile keeps up with 1000/N tiles/s.
// Build first (npm run build). Usage: node bench/raster.mjs
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { encodeImage, readImage } from "../dist/fits/image.js";
import { decodeTile } from "../dist/sources/hips/raster-stamp.js";

const HIPS = resolve(import.meta.dirname, "../fixtures/hips");
const W = 512;

/** A smooth sky with noise and a few sources, RGBA. */
function sky() {
  const rgba = Buffer.alloc(W * W * 4);
  let s = 7;
  for (let y = 0; y < W; y++) {
    for (let x = 0; x < W; x++) {
      s = (s * 1103515245 + 12345) & 0x7fffffff;
      const o = (y * W + x) * 4;
      for (let c = 0; c < 3; c++)
        rgba[o + c] = Math.max(
          0,
          Math.min(255, 30 + 60 * Math.sin(x / 37 + c) * Math.cos(y / 29) + (s % 25)),
        );
      rgba[o + 3] = 255;
    }
  }
  return rgba;
}

function median3(f, n) {
  const t = [];
  for (let r = 0; r < 3; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) f();
    t.push(Number(process.hrtime.bigint() - t0) / 1e6 / n);
  }
  return t.sort((a, b) => a - b)[1];
}

const rgba = sky();
const png = new PNG({ width: W, height: W });
rgba.copy(png.data);
const pngBytes = PNG.sync.write(png);
const jpgBytes = jpeg.encode({ data: rgba, width: W, height: W }, 90).data;
const fitsBytes = encodeImage({
  bitpix: -32,
  shape: [W, W],
  data: Float32Array.from({ length: W * W }, (_, i) => rgba[i * 4]),
  cards: [],
});
const fits = median3(() => readImage(fitsBytes), 40);
const pngMs = median3(() => decodeTile(pngBytes, W, 3), 20);
const jpgMs = median3(() => decodeTile(jpgBytes, W, 3), 20);
console.log(
  `512x512 tile: FITS float32 ${fits.toFixed(2)} ms (${fitsBytes.length} B), PNG ${pngMs.toFixed(2)} ms (${pngBytes.length} B, ${(pngMs / fits).toFixed(1)}x FITS), ` +
    `JPEG ${jpgMs.toFixed(2)} ms (${jpgBytes.length} B, ${(jpgMs / fits).toFixed(1)}x FITS); ` +
    `tiles/s per core: PNG ${(1000 / pngMs).toFixed(0)}, JPEG ${(1000 / jpgMs).toFixed(0)}`,
);

for (const [dir, ext, channels] of [
  ["sample-g", "fits", 1],
  ["sample-g-png", "png", 1],
  ["sample-g-jpg", "jpg", 1],
  ["sample-irg-png", "png", 3],
]) {
  const folder = join(HIPS, dir, "Norder12/Dir111640000");
  const bodies = readdirSync(folder)
    .filter((f) => f.endsWith(`.${ext}`))
    .map((f) => readFileSync(join(folder, f)));
  const ms = median3(() => {
    for (const b of bodies) ext === "fits" ? readImage(b) : decodeTile(b, 64, channels);
  }, 5);
  console.log(
    `${dir.padEnd(15)} ${bodies.length} tiles of 64x64: ${((ms / bodies.length) * 1000).toFixed(0)} us/tile`,
  );
}
