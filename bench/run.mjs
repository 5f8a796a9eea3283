#!/usr/bin/env node
// vocut benchmarks (issue 2). Prints figures; asserts nothing.
//  1. politeness: a local server with set latency that enforces a rate limit (429 above it):
//     achieved requests/s as a fraction of the allowed rate, client CPU per cutout, peak RSS.
//  2. planning 1,000,000 targets x 5 bands into a ledger: wall time and peak RSS.
// Usage: npm run bench  [-- --targets 1000000 --rate 20 --cutouts 400 --latency 50]
import { execFileSync, spawn } from "node:child_process";
import { createWriteStream, mkdtempSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { encodeImage } from "../dist/fits/image.js";

const { values } = parseArgs({
  options: {
    targets: { type: "string", default: "1000000" },
    rate: { type: "string", default: "20" },
    cutouts: { type: "string", default: "400" },
    latency: { type: "string", default: "50" },
    only: { type: "string" },
  },
});
const CLI = resolve(import.meta.dirname, "../dist/cli/index.js");
// Extra node flags for the CLI child, e.g. BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter((a) => a !== "");
const work = mkdtempSync(join(tmpdir(), "vocut-bench-"));

/** Run a command under GNU time; returns wall s, user+sys CPU s and peak RSS MB. */
function timed(args) {
  return new Promise((resolveP, reject) => {
    const child = spawn(
      "/usr/bin/time",
      ["-f", "TIME %e %U %S %M", process.execPath, ...NODE_ARGS, CLI, ...args],
      {
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    child.on("close", (code) => {
      const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(err);
      if (!m) return reject(new Error(`no timing (exit ${code}): ${err}`));
      resolveP({
        code,
        wall: Number(m[1]),
        cpu: Number(m[2]) + Number(m[3]),
        user: Number(m[2]),
        sys: Number(m[3]),
        rssMb: Number(m[4]) / 1024,
        stderr: err,
      });
    });
  });
}

async function politeness() {
  const rate = Number(values.rate);
  const n = Number(values.cutouts);
  const latency = Number(values.latency);
  const body = encodeImage({ bitpix: -32, shape: [28, 28], data: new Float32Array(28 * 28).fill(1) });
  // Server-side limiter: a request arriving sooner than the allowed rate (with a burst of `rate`) gets 429.
  let tokens = rate;
  let last = Date.now();
  let ok = 0;
  let throttled = 0;
  let first = 0;
  let lastOk = 0;
  const server = createServer((_req, res) => {
    const now = Date.now();
    tokens = Math.min(rate, tokens + ((now - last) / 1000) * rate);
    last = now;
    if (tokens < 1) {
      throttled++;
      res.writeHead(429, { "retry-after": "1" });
      res.end();
      return;
    }
    tokens -= 1;
    ok++;
    if (first === 0) first = now;
    lastOk = now;
    setTimeout(() => {
      res.writeHead(200, { "content-type": "application/fits", "content-length": body.length });
      res.end(body);
    }, latency);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}/hips2fits`;
  const cat = join(work, "polite.csv");
  const lines = ["id,ra,dec"];
  for (let i = 0; i < n; i++) lines.push(`o${i},${(10 + i * 1e-4).toFixed(5)},${(-5 + i * 1e-4).toFixed(5)}`);
  await writeText(cat, `${lines.join("\n")}\n`);
  const t = await timed([
    "run",
    cat,
    "--out",
    join(work, "polite-out"),
    "--hips2fits",
    "B/x/g",
    "--hips2fits-url",
    url,
    "--rate",
    String(rate),
    "--concurrency",
    "8",
    "--quiet",
  ]);
  server.close();
  // Intervals between the first and the last accepted request (vocut's default burst is 1, so no
  // initial burst to discount).
  const sustained = (ok - 1) / ((lastOk - first) / 1000);
  console.log(
    `\n== politeness: ${n} cutouts, server allows ${rate} req/s (burst ${rate}), latency ${latency} ms, --concurrency 8`,
  );
  console.log(`exit ${t.code}; ${ok} OK responses, ${throttled} throttled (429)`);
  console.log(
    `wall ${t.wall.toFixed(2)} s; achieved ${sustained.toFixed(2)} req/s sustained = ${((100 * sustained) / rate).toFixed(1)}% of the allowed rate`,
  );
  console.log(
    `client CPU ${t.cpu.toFixed(2)} s = ${((1000 * t.cpu) / n).toFixed(3)} ms per cutout (user ${((1000 * t.user) / n).toFixed(3)} + sys ${((1000 * t.sys) / n).toFixed(3)}; incl. start-up ~0.5 s); peak RSS ${t.rssMb.toFixed(0)} MB`,
  );
}

async function planning() {
  const n = Number(values.targets);
  const cat = join(work, "big.csv");
  const ws = createWriteStream(cat);
  ws.write("id,ra,dec\n");
  for (let i = 0; i < n; i++) {
    const line = `${1237648720693755918n + BigInt(i)},${((i * 0.000347) % 360).toFixed(6)},${(((i * 0.000211) % 170) - 85).toFixed(6)}\n`;
    if (!ws.write(line)) await new Promise((r) => ws.once("drain", r));
  }
  await new Promise((r) => ws.end(r));
  const out = join(work, "plan-out");
  const t = await timed([
    "plan",
    cat,
    "--out",
    out,
    "--url",
    "https://example.org/c?ra={ra}&dec={dec}&band={band}",
    "--bands",
    "u,g,r,i,z",
    "--quiet",
  ]);
  const dbMb = statSync(join(out, "vocut.db")).size / 2 ** 20;
  console.log(`\n== planning ${n.toLocaleString("en")} targets x 5 bands into a ledger`);
  console.log(
    `exit ${t.code}; wall ${t.wall.toFixed(1)} s, CPU ${t.cpu.toFixed(1)} s, peak RSS ${t.rssMb.toFixed(0)} MB, ledger ${dbMb.toFixed(0)} MB`,
  );
}

function writeText(path, text) {
  return new Promise((r, j) => {
    const ws = createWriteStream(path);
    ws.on("error", j);
    ws.end(text, r);
  });
}

try {
  console.log(`vocut bench on node ${process.version}, ${execFileSync("nproc").toString().trim()} cores`);
  if (!values.only || values.only === "politeness") await politeness();
  if (!values.only || values.only === "planning") await planning();
} finally {
  rmSync(work, { recursive: true, force: true });
}
