#!/usr/bin/env node
// vocut export and preview at two job sizes (issue 4, part 1: "memory stays bounded"). Prints figures;
// asserts nothing. A local server answers a distinct 28x28 float32 stamp per id; `vocut run` fetches a
// job of N targets x 2 bands, then `vocut export` writes the npy and the FITS cube and `vocut preview`
// a sheet, each under GNU time (wall, CPU, peak RSS). Peak RSS should not grow with N.
// Build first (npm run build). Usage: node bench/export.mjs [--sizes 2000,20000]
import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { encodeImage } from "../dist/fits/image.js";

const { values } = parseArgs({ options: { sizes: { type: "string", default: "2000,20000" } } });
const SIZES = values.sizes.split(",").map(Number);
const CLI = resolve(import.meta.dirname, "../dist/cli/index.js");
const work = mkdtempSync(join(tmpdir(), "vocut-export-bench-"));

function timed(args) {
  return new Promise((resolveP, reject) => {
    const child = spawn("/usr/bin/time", ["-f", "TIME %e %U %S %M", process.execPath, CLI, ...args], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => {
      const m = /TIME (\S+) (\S+) (\S+) (\d+)/.exec(err);
      if (m === null) return reject(new Error(`no timing (exit ${code}): ${err.slice(0, 500)}`));
      resolveP({ code, wall: Number(m[1]), cpu: Number(m[2]) + Number(m[3]), rssMb: Number(m[4]) / 1024 });
    });
  });
}

// One stamp per (band, id): value = id number + band offset, so a mix-up would show.
const server = createServer((req, res) => {
  const m = /^\/(\w)\/o(\d+)\.fits$/.exec(req.url ?? "");
  if (m === null) {
    res.writeHead(404).end();
    return;
  }
  const v = Number(m[2]) + (m[1] === "g" ? 0 : 0.5);
  const body = encodeImage({ bitpix: -32, shape: [28, 28], data: new Float32Array(784).fill(v) });
  res.writeHead(200, { "content-type": "application/fits", "content-length": body.length }).end(body);
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${server.address().port}`;

/** The npy header's shape tuple, read from the file. */
function npyShape(path) {
  const fd = openSync(path, "r");
  const head = Buffer.alloc(256);
  readSync(fd, head, 0, 256, 0);
  closeSync(fd);
  return /'shape': \(([^)]*)\)/.exec(head.toString("latin1"))?.[1] ?? "?";
}

const rows = [];
try {
  for (const n of SIZES) {
    const dir = join(work, `n${n}`);
    const lines = ["id,ra,dec"];
    for (let i = 0; i < n; i++)
      lines.push(`o${i},${(10 + i * 1e-4).toFixed(5)},${(-5 + i * 1e-4).toFixed(5)}`);
    writeFileSync(join(work, `cat-${n}.csv`), `${lines.join("\n")}\n`);
    const out = join(dir, "out");
    const run = await timed([
      "run",
      join(work, `cat-${n}.csv`),
      "--out",
      out,
      "--url",
      `${base}/{band}/{id}.fits`,
      "--bands",
      "g,r",
      "--concurrency",
      "16",
      "--rate",
      "1e6",
      "--quiet",
    ]);
    if (run.code !== 0) throw new Error(`vocut run exited ${run.code}`);
    rows.push({ n, step: "run", ...run, size: "" });
    for (const format of ["npy", "fits"]) {
      const file = join(dir, `stamps.${format}`);
      const r = await timed(["export", out, "--format", format, "--out", file]);
      const size = `${(statSync(file).size / 2 ** 20).toFixed(1)} MiB${format === "npy" ? ` (${npyShape(file)})` : ""}`;
      rows.push({ n, step: `export ${format}`, ...r, size });
    }
    const sheet = join(dir, "sheet.png");
    const p = await timed(["preview", out, "--out", sheet, "--rgb", "r,g,g", "--max", "400"]);
    rows.push({
      n,
      step: "preview --max 400",
      ...p,
      size: `${(statSync(sheet).size / 1024).toFixed(0)} KiB`,
    });
  }
} finally {
  server.close();
  rmSync(work, { recursive: true, force: true });
}

console.log(`\nvocut export/preview on node ${process.version}: N targets x 2 bands of 28x28 float32\n`);
console.log("| N targets | step | exit | wall s | CPU s | peak RSS MB | output |");
console.log("|---:|---|---:|---:|---:|---:|---|");
for (const r of rows)
  console.log(
    `| ${r.n} | ${r.step} | ${r.code} | ${r.wall.toFixed(2)} | ${r.cpu.toFixed(2)} | ${r.rssMb.toFixed(0)} | ${r.size} |`,
  );
