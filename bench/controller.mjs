#!/usr/bin/env node
// The per-host controller in real time (issue 10): the built CLI, curl and aria2c against three test
// servers on 127.0.0.1, as a new user would run them. Prints figures; asserts nothing.
//  1. token bucket 40 req/s (burst 10; 429 + Retry-After 1 beyond it), 50 ms latency, plus 13% faults
//     unrelated to load (500 without Retry-After, resets, truncated bodies, HTML with 200); vocut told
//     --rate 40 and --rate 120 (3x), --concurrency 8.
//  2. finite capacity that queues instead of refusing: 4 workers x 50 ms = 80 req/s; --rate 200
//     --concurrency 16. Reports the wait in the server's queue.
//  3. the fault mix: 5% 503 (Retry-After 2) + 5% 429 (Retry-After 1) + resets, truncation, HTML-200 and
//     stalls (past --timeout 2); 500 tasks, --rate 1000: time against the Retry-After pauses alone.
// The server measures: accepted requests / its capacity over the run and its worst 10 s window, 429s,
// queue waits, the union of the Retry-After pauses it asked for. Build first (npm run build). Usage:
//   node bench/controller.mjs [--seconds 30] [--peers vocut,curl,aria2c] [--only bucket40,bucket120,queue,mix]
import { spawn, spawnSync } from "node:child_process";
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { seededRandom } from "../dist/fetch/sim/servers.js";
import { encodeImage } from "../dist/fits/image.js";
import { aria2Argv, curlArgv } from "./lib/nginx-files.mjs";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "30" },
    peers: { type: "string", default: "vocut,curl,aria2c" },
    only: { type: "string", default: "bucket40,bucket120,queue,mix" },
    // Write vocut's --json events (incl. its per-host controller every 5 s) to this file.
    "vocut-json": { type: "string" },
  },
});
const SECONDS = Number(values.seconds);
const CLI = resolve(import.meta.dirname, "../dist/cli/index.js");
const work = mkdtempSync(join(tmpdir(), "vocut-controller-"));

const FITS = Buffer.from(
  encodeImage({ bitpix: -32, shape: [16, 16], data: new Float32Array(256).fill(1), cards: [] }),
);
const HTML = Buffer.from("<html><body>Service temporarily busy</body></html>");

/**
 * A test server. `decide(now, random)` returns what to do with one request; the server keeps the
 * figures. Kinds: ok (after latencyMs), status (with retryAfterS), reset, truncate, html200, stall,
 * queue (a FIFO of `workers` x `serviceMs`).
 */
function startServer(model) {
  const random = seededRandom(7);
  const t0 = Date.now();
  const stats = { accepted: [], throttled: 0, requests: 0, waits: [], pauses: [], first: 0, last: 0 };
  const free = new Array(model.workers ?? 0).fill(0);
  const sockets = new Set();
  const server = createServer((req, res) => {
    const now = Date.now();
    stats.requests++;
    if (stats.first === 0) stats.first = now;
    stats.last = now;
    const d = model.decide(now, random);
    const sec = Math.floor((now - t0) / 1000);
    const accept = () => {
      stats.accepted[sec] = (stats.accepted[sec] ?? 0) + 1;
    };
    const later = (ms, fn) => setTimeout(fn, ms);
    switch (d.kind) {
      case "status":
        stats.throttled++;
        stats.pauses.push([now, now + d.retryAfterS * 1000]);
        return later(d.latencyMs ?? 50, () => {
          res.writeHead(d.status, { "retry-after": String(d.retryAfterS), "content-type": "text/plain" });
          res.end("slow down\n");
        });
      case "error500":
        accept();
        return later(50, () => {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end("oops\n");
        });
      case "reset":
        accept();
        return later(20, () => req.socket.destroy());
      case "truncate":
        accept();
        return later(50, () => {
          res.writeHead(200, { "content-type": "application/fits", "content-length": String(FITS.length) });
          res.write(FITS.subarray(0, 1000));
          later(5, () => req.socket.destroy());
        });
      case "html200":
        accept();
        return later(50, () => {
          res.writeHead(200, { "content-type": "text/html" });
          res.end(HTML);
        });
      case "stall":
        accept();
        return; // never answers; the client's timeout ends it
      case "queue": {
        accept();
        let w = 0;
        for (let i = 1; i < free.length; i++) if (free[i] < free[w]) w = i;
        const begin = Math.max(now, free[w]);
        free[w] = begin + model.serviceMs;
        stats.waits.push(begin - now);
        return later(free[w] - now, () => {
          res.writeHead(200, { "content-type": "application/fits", "content-length": String(FITS.length) });
          res.end(FITS);
        });
      }
      default:
        accept();
        return later(d.latencyMs ?? 50, () => {
          res.writeHead(200, { "content-type": "application/fits", "content-length": String(FITS.length) });
          res.end(FITS);
        });
    }
  });
  server.keepAliveTimeout = 30_000;
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  return new Promise((res) =>
    server.listen(0, "127.0.0.1", () =>
      res({
        url: `http://127.0.0.1:${server.address().port}`,
        stats,
        t0,
        stop: () =>
          new Promise((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      }),
    ),
  );
}

/** Load-unrelated faults: a fault kind with probability p each, else undefined. */
function fault(random, table) {
  let u = random();
  for (const [p, kind] of table) {
    if (u < p) return { kind };
    u -= p;
  }
  return undefined;
}

const FAULTS_13 = [
  [0.04, "error500"],
  [0.03, "reset"],
  [0.03, "truncate"],
  [0.03, "html200"],
];

function bucketModel() {
  let tokens = 10;
  let last = Date.now();
  return {
    capacity: 40,
    decide(now, random) {
      tokens = Math.min(10, tokens + ((now - last) / 1000) * 40);
      last = now;
      if (tokens < 1) return { kind: "status", status: 429, retryAfterS: 1 };
      tokens -= 1;
      return fault(random, FAULTS_13) ?? { kind: "ok" };
    },
  };
}

function queueModel() {
  return { capacity: 80, workers: 4, serviceMs: 50, decide: () => ({ kind: "queue" }) };
}

function mixModel() {
  return {
    capacity: Number.POSITIVE_INFINITY,
    decide(_now, random) {
      const u = random();
      if (u < 0.05) return { kind: "status", status: 503, retryAfterS: 2 };
      if (u < 0.1) return { kind: "status", status: 429, retryAfterS: 1 };
      return (
        fault(random, [
          [0.04, "reset"],
          [0.04, "truncate"],
          [0.04, "html200"],
          [0.02, "stall"],
        ]) ?? { kind: "ok" }
      );
    },
  };
}

function catalog(n) {
  const path = join(work, `catalog-${n}.csv`);
  const lines = ["id,ra,dec"];
  for (let i = 0; i < n; i++) lines.push(`o${i},${(10 + i * 1e-4).toFixed(6)},1`);
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}

function have(cmd) {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

/** argv of each peer for n files from `base` into `out`. */
const PEERS = {
  vocut: ({ n, base, out, rate, concurrency, timeoutS }) => [
    process.execPath,
    CLI,
    "run",
    catalog(n),
    "--out",
    out,
    "--url",
    `${base}/cut/{id}.fits`,
    "--bands",
    "x",
    "--rate",
    String(rate),
    "--concurrency",
    String(concurrency),
    "--retries",
    "50",
    "--timeout",
    String(timeoutS),
    values["vocut-json"] === undefined ? "--quiet" : "--json",
  ],
  curl: ({ n, base, out, concurrency, timeoutS }) => {
    const cfg = join(work, `curl-${n}.cfg`);
    const urls = [];
    for (let i = 0; i < n; i++) urls.push(`url = "${base}/cut/o${i}.fits"`);
    writeFileSync(cfg, `${urls.join("\n")}\n`);
    // No rate with --parallel; --retry honours Retry-After. An HTML page with 200 is saved as it is.
    return curlArgv(cfg, out, concurrency, [
      "--retry",
      "50",
      "--retry-all-errors",
      "--max-time",
      String(timeoutS),
    ]);
  },
  aria2c: ({ n, base, out, concurrency, timeoutS }) => {
    const list = join(work, `aria2-${n}.txt`);
    const urls = [];
    for (let i = 0; i < n; i++) urls.push(`${base}/cut/o${i}.fits`);
    writeFileSync(list, `${urls.join("\n")}\n`);
    return aria2Argv(list, out, concurrency, ["--max-tries=50", "--retry-wait=1", `--timeout=${timeoutS}`]);
  },
};

function run(argv, limitS) {
  return new Promise((res) => {
    const t = Date.now();
    const json = argv.includes("--json") ? values["vocut-json"] : undefined;
    const child = spawn(argv[0], argv.slice(1), {
      stdio: ["ignore", json === undefined ? "ignore" : "pipe", "pipe"],
    });
    if (json !== undefined) {
      writeFileSync(json, "");
      child.stdout.on("data", (d) => appendFileSync(json, d));
    }
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => child.kill("SIGINT"), limitS * 1000);
    child.on("close", (code) => {
      clearTimeout(timer);
      res({ code, wallS: (Date.now() - t) / 1000, stderr: err.slice(-500) });
    });
  });
}

function fitsFiles(dir) {
  let ok = 0;
  let bad = 0;
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (!e.name.startsWith(".")) walk(p);
      } else if (e.name.endsWith(".fits")) {
        if (readFileSync(p).subarray(0, 6).toString() === "SIMPLE") ok++;
        else bad++;
      }
    }
  };
  try {
    walk(dir);
  } catch {}
  return { ok, bad };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor((s.length - 1) / 2)];
}
function p90(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor(0.9 * (s.length - 1))];
}

/** Union length of [from, to] intervals, ms. */
function union(intervals) {
  const s = [...intervals].sort((a, b) => a[0] - b[0]);
  let total = 0;
  let end = Number.NEGATIVE_INFINITY;
  for (const [a, b] of s) {
    if (b <= end) continue;
    total += b - Math.max(a, end);
    end = b;
  }
  return total;
}

const SCENARIOS = {
  bucket40: {
    title: "token bucket 40/s + 13% faults, told --rate 40",
    model: bucketModel,
    rate: 40,
    concurrency: 8,
    n: 40 * SECONDS,
    timeoutS: 10,
  },
  bucket120: {
    title: "token bucket 40/s + 13% faults, told --rate 120 (3x)",
    model: bucketModel,
    rate: 120,
    concurrency: 8,
    n: 40 * SECONDS,
    timeoutS: 10,
  },
  queue: {
    title: "queueing 4 x 50 ms (80/s), told --rate 200 --concurrency 16",
    model: queueModel,
    rate: 200,
    concurrency: 16,
    n: 80 * SECONDS,
    timeoutS: 10,
  },
  mix: {
    title:
      "fault mix (10% throttles with Retry-After, resets, truncation, HTML-200, stalls), 500 tasks, --rate 1000",
    model: mixModel,
    rate: 1000,
    concurrency: 4,
    n: 500,
    timeoutS: 2,
  },
};

const rows = [];
for (const key of values.only.split(",")) {
  const sc = SCENARIOS[key];
  for (const peer of values.peers.split(",")) {
    const bin = peer === "vocut" ? process.execPath : peer;
    if (!have(bin)) {
      rows.push([sc.title, peer, `not installed (apt-get install ${peer === "aria2c" ? "aria2" : peer})`]);
      continue;
    }
    const model = sc.model();
    const srv = await startServer(model);
    const out = join(work, `${key}-${peer}`);
    mkdirSync(out, { recursive: true });
    // A peer that has not finished after 4x the run's nominal time (its retries back off for minutes) is
    // stopped with SIGINT; its row says so by its exit and file count.
    const r = await run(PEERS[peer]({ n: sc.n, base: srv.url, out, ...sc }), 4 * SECONDS + 60);
    await srv.stop();
    const st = srv.stats;
    const spanS = Math.max(1e-3, (st.last - st.first) / 1000);
    const acc = st.accepted.reduce((a, b) => a + (b ?? 0), 0);
    const files = fitsFiles(out);
    let worst = Number.POSITIVE_INFINITY;
    const firstSec = Math.floor((st.first - srv.t0) / 1000);
    const lastSec = Math.floor((st.last - srv.t0) / 1000);
    for (let s = firstSec; s + 10 <= lastSec; s++) {
      let w = 0;
      for (let k = s; k < s + 10; k++) w += st.accepted[k] ?? 0;
      worst = Math.min(worst, w / (10 * Math.min(model.capacity, sc.rate)));
    }
    const cap = Math.min(model.capacity, sc.rate);
    const used = Number.isFinite(cap) ? `${((100 * acc) / spanS / cap).toFixed(1)}%` : "-";
    rows.push([
      sc.title,
      peer,
      `exit ${r.code}, ${r.wallS.toFixed(1)} s, ${files.ok} FITS${files.bad > 0 ? ` + ${files.bad} not FITS` : ""}`,
      `${st.requests} req`,
      `used ${used}`,
      `worst 10 s ${Number.isFinite(worst) ? `${(100 * worst).toFixed(0)}%` : "-"}`,
      `429/503 ${((100 * st.throttled) / Math.max(1, st.requests)).toFixed(1)}%`,
      st.waits.length > 0 ? `queue p50 ${median(st.waits)} ms p90 ${p90(st.waits)} ms` : "",
      st.pauses.length > 0 ? `Retry-After pauses ${(union(st.pauses) / 1000).toFixed(1)} s` : "",
    ]);
    console.log(
      rows
        .at(-1)
        .filter((x) => x !== "")
        .join(" | "),
    );
  }
}
rmSync(work, { recursive: true, force: true });
