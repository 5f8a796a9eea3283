#!/usr/bin/env node
// The README's first command: a real vocut job, offline, on the bundled sample.
//
// Starts a small hips2fits-compatible server on 127.0.0.1 that cuts TAN stamps out of the bundled
// synthetic images (fixtures/sample/image-{g,r,i}.fits, made by make_sample.py with astropy; bilinear
// interpolation on the image's own WCS), then runs the built CLI against it exactly as a user would
// run it against CDS, and prints `vocut status`.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join, resolve } from "node:path";
import { encodeImage, readImage } from "../dist/fits/image.js";
import { parseTanWcs, tanPixelToWorld, tanWcsCards, tanWorldToPixel } from "../dist/wcs/tan-header.js";

const root = resolve(import.meta.dirname, "..");
const sample = join(root, "fixtures/sample");
const out = process.argv[2] ?? join(root, "sample-out");
const cli = join(root, "dist/cli/index.js");

const images = new Map();
for (const band of ["g", "r", "i"]) {
  const img = readImage(readFileSync(join(sample, `image-${band}.fits`)));
  images.set(`vocut/sample/${band}`, { img, wcs: parseTanWcs(img.header) });
}

function bilinear(img, x, y) {
  // x, y: FITS 1-based pixel coordinates
  const x0 = Math.floor(x - 1);
  const y0 = Math.floor(y - 1);
  if (x0 < 0 || y0 < 0 || x0 + 1 >= img.width || y0 + 1 >= img.height) return Number.NaN;
  const fx = x - 1 - x0;
  const fy = y - 1 - y0;
  const at = (i, j) => img.data[j * img.width + i];
  return (
    at(x0, y0) * (1 - fx) * (1 - fy) +
    at(x0 + 1, y0) * fx * (1 - fy) +
    at(x0, y0 + 1) * (1 - fx) * fy +
    at(x0 + 1, y0 + 1) * fx * fy
  );
}

const server = createServer((req, res) => {
  const q = new URL(req.url, "http://x").searchParams;
  const src = images.get(q.get("hips") ?? "");
  const width = Number(q.get("width"));
  const height = Number(q.get("height"));
  const fov = Number(q.get("fov"));
  const ra = Number(q.get("ra"));
  const dec = Number(q.get("dec"));
  if (!src || !(width > 0 && height > 0 && fov > 0) || !Number.isFinite(ra) || !Number.isFinite(dec)) {
    res.writeHead(400, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        title: "Bad request",
        description: "unknown hips or missing width/height/fov/ra/dec",
      }),
    );
    return;
  }
  const cards = tanWcsCards({
    raDeg: ra,
    decDeg: dec,
    widthPx: width,
    heightPx: height,
    pixscaleArcsec: (fov * 3600) / Math.max(width, height),
    // hips2fits's grid: CRPIX = W/2, H/2 (the target on the centre of pixel W/2), as --hips writes by default.
    grid: "hips2fits",
  });
  const stamp = parseTanWcs(cards);
  const data = new Float32Array(width * height);
  for (let y = 1; y <= height; y++) {
    for (let x = 1; x <= width; x++) {
      const w = tanPixelToWorld(stamp, x, y);
      const p = tanWorldToPixel(src.wcs, w.raDeg, w.decDeg);
      data[(y - 1) * width + (x - 1)] = bilinear(src.img, p.x, p.y);
    }
  }
  const body = encodeImage({ bitpix: -32, shape: [width, height], data, cards });
  res.writeHead(200, { "content-type": "application/fits", "content-length": body.length });
  res.end(body);
});

server.listen(0, "127.0.0.1", () => {
  const url = `http://127.0.0.1:${server.address().port}/hips2fits`;
  const args = [
    "run",
    join(sample, "catalog.csv"),
    "--out",
    out,
    "--hips2fits",
    "vocut/sample/g,vocut/sample/r,vocut/sample/i",
    "--hips2fits-url",
    url,
    "--size",
    "32",
    "--pixscale",
    "0.8",
    "--rate",
    "50",
    "--concurrency",
    "4",
  ];
  console.log(`$ vocut ${args.join(" ")}`);
  // The server lives in this process, so the CLI runs as an asynchronous child.
  import("node:child_process").then(({ spawn }) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: "inherit" });
    child.on("close", (code) => {
      server.close();
      console.log(`\nvocut exited ${code}. Cutouts are in ${out}/{g,r,i}/; status:`);
      const st = spawnSync(process.execPath, [cli, "status", out], { stdio: "inherit" });
      process.exitCode = code === 0 ? (st.status ?? 1) : (code ?? 1);
    });
  });
});
