#!/usr/bin/env node
// Large archive products behind a bearer token (issue 13). Prints figures; asserts nothing.
// A local archive on 127.0.0.1 serves N FITS products of SIZE bytes each, generated on the fly (a FITS
// header, then a repeated 1 MiB data pattern: never held whole), wants `Authorization: Bearer <token>`,
// offers byte ranges, and cuts each product's first answer at 40% (socket destroyed). vocut obscore
// downloads the list with --token-env. Reported: exit code, wall time, peak RSS of vocut (GNU time),
// bytes the server sent / bytes of the products, the Range requests, sha256 of each file against the
// served bytes, and whether the token appears in any byte vocut wrote (files, stdout, stderr).
// Usage: node bench/products-stream.mjs [--products 2] [--mb 1024] [--keep]
//   [--cli PATH --open]: another build of vocut (e.g. main's dist/cli/index.js), the archive without a token
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { createReadStream, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    products: { type: "string", default: "2" },
    mb: { type: "string", default: "1024" },
    keep: { type: "boolean", default: false },
    cli: { type: "string" },
    open: { type: "boolean", default: false },
  },
});
const CLI = resolve(values.cli ?? join(import.meta.dirname, "../dist/cli/index.js"));
const N = Number(values.products);
const work = mkdtempSync(join(tmpdir(), "vocut-bench-products-"));
const token = `bench-${randomBytes(16).toString("hex")}`;

/** A FITS primary header for a BITPIX=-32 image of about `mb` MiB (width 4096), padded to 2880. */
function fitsHeader(rows) {
  const cards = [
    "SIMPLE  =                    T",
    "BITPIX  =                  -32",
    "NAXIS   =                    2",
    "NAXIS1  =                 4096",
    `NAXIS2  = ${String(rows).padStart(20)}`,
    "END",
  ].map((c) => c.padEnd(80));
  const text = cards.join("");
  return Buffer.from(text.padEnd(Math.ceil(text.length / 2880) * 2880), "latin1");
}
const rows = Math.round((Number(values.mb) * 2 ** 20) / (4096 * 4));
const header = fitsHeader(rows);
const dataBytes = rows * 4096 * 4;
const size = header.length + Math.ceil(dataBytes / 2880) * 2880;
const pattern = Buffer.alloc(2 ** 20);
for (let i = 0; i < pattern.length; i += 4) pattern.writeFloatBE(Math.sin(i / 4096), i);

/** Bytes [start, end) of a product (the same bytes for every product but the last data byte: its index). */
function slice(index, start, end) {
  const out = Buffer.allocUnsafe(end - start);
  for (let pos = start; pos < end; ) {
    let n;
    if (pos < header.length) {
      n = Math.min(end, header.length) - pos;
      header.copy(out, pos - start, pos, pos + n);
    } else {
      const off = (pos - header.length) % pattern.length;
      n = Math.min(end - pos, pattern.length - off);
      if (pos - header.length >= dataBytes) out.fill(0, pos - start, pos - start + n);
      else pattern.copy(out, pos - start, off, off + n);
    }
    pos += n;
  }
  // Make the products differ: the first data byte carries the index.
  if (start <= header.length && end > header.length) out[header.length - start] = index;
  return out;
}

const sent = new Map();
const ranges = [];
const cut = new Set();
const server = createServer(async (req, res) => {
  if (!values.open && req.headers.authorization !== `Bearer ${token}`) {
    res.writeHead(401, { "www-authenticate": "Bearer" }).end("Unauthorized");
    return;
  }
  const m = /^\/files\/p(\d+)\.fits$/.exec(req.url ?? "");
  if (m === null) {
    res.writeHead(404).end();
    return;
  }
  const index = Number(m[1]);
  const r = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
  const start = r === null ? 0 : Number(r[1]);
  if (r !== null) ranges.push(`p${index}: ${req.headers.range}`);
  const headers = {
    "content-type": "application/fits",
    "content-length": String(size - start),
    "accept-ranges": "bytes",
    etag: `"p${index}"`,
  };
  if (start > 0) headers["content-range"] = `bytes ${start}-${size - 1}/${size}`;
  res.writeHead(start > 0 ? 206 : 200, headers);
  const end = start === 0 && !cut.has(index) ? Math.floor(size * 0.4) : size;
  if (start === 0) cut.add(index);
  for (let pos = start; pos < end; pos += 2 ** 20) {
    const chunk = slice(index, pos, Math.min(end, pos + 2 ** 20));
    sent.set(index, (sent.get(index) ?? 0) + chunk.length);
    if (!res.write(chunk)) await once(res, "drain");
    if (res.destroyed) return;
  }
  if (end < size) {
    await new Promise((r2) => res.write(Buffer.alloc(0), () => r2()));
    req.socket.destroy();
    return;
  }
  res.end();
});
server.listen(0, "127.0.0.1");
await once(server, "listening");
const base = `http://127.0.0.1:${server.address().port}`;
const list = join(work, "list.csv");
writeFileSync(
  list,
  `obs_publisher_did,access_url,access_format\n${Array.from({ length: N }, (_, i) => `ivo://bench/p${i},${base}/files/p${i}.fits,application/fits`).join("\n")}\n`,
);
const out = join(work, "out");
const t0 = Date.now();
const child = spawn(
  "/usr/bin/time",
  [
    "-f",
    "TIME %e %M",
    process.execPath,
    CLI,
    "obscore",
    list,
    "--out",
    out,
    ...(values.open ? ["--max-bytes", String(64 * 2 ** 30)] : ["--token-env", "BENCH_TOKEN"]),
    "--rate",
    "10",
    "--pause",
    "0",
  ],
  { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, BENCH_TOKEN: token } },
);
let stdout = "";
let stderr = "";
child.stdout.on("data", (d) => (stdout += d));
child.stderr.on("data", (d) => (stderr += d));
const [code] = await once(child, "close");
const wall = (Date.now() - t0) / 1000;
const t = /TIME ([\d.]+) (\d+)/.exec(stderr);
const cliOut = stderr.replace(/TIME [\d.]+ \d+\n?/, "");

/** SHA-256 of a served product, computed from the same generator in 16 MiB slices. */
function servedSha(index) {
  const h = createHash("sha256");
  for (let pos = 0; pos < size; pos += 16 * 2 ** 20)
    h.update(slice(index, pos, Math.min(size, pos + 16 * 2 ** 20)));
  return h.digest("hex");
}
async function fileSha(path) {
  const h = createHash("sha256");
  for await (const c of createReadStream(path)) h.update(c);
  return h.digest("hex");
}
const files = readdirSync(out).filter((f) => f.endsWith(".fits"));
const want = new Set(Array.from({ length: N }, (_, i) => servedSha(i)));
let matching = 0;
for (const f of files) if (want.has(await fileSha(join(out, f)))) matching++;
// The token in any byte vocut wrote: every file under OUT (products scanned in 64 MiB windows), stdout, stderr.
let leaked = stdout.includes(token) || cliOut.includes(token);
const walk = (d) =>
  readdirSync(d, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)],
  );
for (const p of walk(out)) {
  let carry = "";
  for await (const c of createReadStream(p, { highWaterMark: 64 * 2 ** 20 })) {
    const s = carry + c.toString("latin1");
    if (s.includes(token)) leaked = true;
    carry = s.slice(-token.length);
  }
}
const totalSent = [...sent.values()].reduce((a, b) => a + b, 0);
console.log(
  `products: ${N} x ${size} bytes (${(size / 2 ** 20).toFixed(0)} MiB), each cut at 40% on its first answer`,
);
console.log(`exit code: ${code}; wall ${t?.[1] ?? wall.toFixed(1)} s`);
console.log(`peak RSS of vocut: ${t === null ? "?" : (Number(t[2]) / 1024).toFixed(0)} MB`);
console.log(`server sent ${totalSent} bytes = ${(totalSent / (N * size)).toFixed(3)} x the products`);
console.log(`Range requests: ${ranges.join("; ") || "none"}`);
console.log(`files with the right sha256: ${matching} of ${N}`);
console.log(`token found in what vocut wrote: ${leaked ? "YES" : "no"}`);
if (code !== 0) console.log(cliOut);
server.close();
if (values.keep) console.log(`kept ${work}`);
else rmSync(work, { recursive: true, force: true });
