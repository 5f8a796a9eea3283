#!/usr/bin/env node
// Per-stamp cost against the floor (issue 12, parts 4 and 5). Prints figures; asserts nothing.
//  1. 5,000 FITS files of 8,640 bytes served by nginx on 127.0.0.1 (started here, unprivileged, on a
//     free port), 16 at a time, in one run, the peers interleaved round by round, median of 3 each:
//     curl --parallel and aria2c (each creating 5,000 files), the bare-Node floor (bench/floor.mjs:
//     undici, write + rename, no validation, no ledger), vocut --store files and, when this vocut's
//     CLI accepts it, vocut --store tar.
//  2. the local HiPS job: 10,000 targets x 3 bands cut from the bundled sample HiPS, in each store.
// For each: wall, CPU (user + sys, GNU time), CPU us per file, peak RSS, files created in the output
// folder (ledger and temp files included), and ratios to the floor and to curl.
// A missing nginx, curl, aria2c or GNU time is reported and that part skipped.
// Build first (npm run build). Usage:
//   node bench/cost.mjs [--files 5000] [--targets 10000] [--concurrency 16] [--runs 3] [--only nginx|hips]
//                       [--peers curl,aria2c,floor,vocut-files,vocut-tar] [--out-root DIR]
// --out-root puts every peer's output folder under DIR (e.g. a mount of a shared or FUSE file system);
// nginx, its files and the catalogs stay in the local temp folder. --ledger-root DIR puts vocut's ledgers
// there instead of in each output folder (`--ledger`, as the README advises for cluster storage).
// BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" passes flags to the vocut children.
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { writeFieldCatalog } from "./lib/hips-field.mjs";
import {
  aria2Argv,
  curlArgv,
  have,
  makeFitsFiles,
  median,
  missing,
  startNginx,
  timed,
} from "./lib/nginx-files.mjs";

const { values } = parseArgs({
  options: {
    files: { type: "string", default: "5000" },
    targets: { type: "string", default: "10000" },
    concurrency: { type: "string", default: "16" },
    runs: { type: "string", default: "3" },
    only: { type: "string" },
    peers: { type: "string", default: "curl,aria2c,floor,vocut-files,vocut-tar" },
    "out-root": { type: "string" },
    "ledger-root": { type: "string" },
  },
});
const N = Number(values.files);
const TARGETS = Number(values.targets);
const C = Number(values.concurrency);
const RUNS = Number(values.runs);
const ROOT = resolve(import.meta.dirname, "..");
const CLI = join(ROOT, "dist/cli/index.js");
const FLOOR = join(ROOT, "bench/floor.mjs");
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter((a) => a !== "");

const work = mkdtempSync(join(tmpdir(), "vocut-cost-"));
chmodSync(work, 0o755); // nginx workers may run as nobody
const www = join(work, "www");
const ledgerRoot =
  values["ledger-root"] === undefined
    ? undefined
    : mkdtempSync(join(resolve(values["ledger-root"]), "vocut-cost-ledgers-"));
const outRoot =
  values["out-root"] === undefined
    ? join(work, "out")
    : mkdtempSync(join(resolve(values["out-root"]), "vocut-cost-out-"));

/** Whether this vocut's `run` has --store (the tar store of issue 12, part 1). */
function vocutHasTarStore() {
  const help = spawnSync(process.execPath, [CLI, "run", "--help"]).stdout.toString();
  return /--store\b/.test(help) && /\btar\b/.test(help);
}

/** The file system type of `dir`, as stat -f names it (ext2/ext3, fuseblk, nfs, ...). */
function fsType(dir) {
  const r = spawnSync("stat", ["-f", "-c", "%T", dir]);
  return r.status === 0 ? r.stdout.toString().trim() : "unknown";
}

/** Every regular file under `dir`, recursively. */
function countFiles(dir) {
  let n = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    if (e.isDirectory()) n += countFiles(join(dir, e.name));
    else n++;
  }
  return n;
}

/** `--ledger PATH` for vocut's run on `out` when --ledger-root is given, else nothing (OUT/vocut.db). */
function ledgerArgs(out) {
  return ledgerRoot === undefined ? [] : ["--ledger", join(ledgerRoot, `${basename(out)}.db`)];
}

/** Tasks done according to vocut's own ledger. */
function vocutDone(out) {
  const ledger = ledgerArgs(out);
  const r = spawnSync(process.execPath, [CLI, "status", ...(ledger.length > 0 ? ledger : [out]), "--json"]);
  try {
    return JSON.parse(r.stdout.toString()).byState.done;
  } catch {
    return 0;
  }
}

function vocutArgv(catalog, out, store, source) {
  return [
    process.execPath,
    ...NODE_ARGS,
    CLI,
    "run",
    catalog,
    "--out",
    out,
    ...ledgerArgs(out),
    ...source,
    ...(store === "files" ? [] : ["--store", store]),
    "--quiet",
  ];
}

/** The nginx peers: argv to fetch the N files from `base` into `out`, and how many arrived. */
function nginxPeers(base, tarStore) {
  const catalog = join(work, "catalog.csv");
  const urlSource = [
    "--url",
    `${base}/{id}.fits`,
    "--bands",
    "x",
    "--concurrency",
    String(C),
    "--rate",
    "1000000",
    "--retries",
    "20",
  ];
  const curlCfg = join(work, "curl.cfg");
  const ariaList = join(work, "aria2.txt");
  const urls = Array.from({ length: N }, (_, i) => `${base}/o${i}.fits`);
  writeFileSync(curlCfg, `${urls.map((u) => `url = "${u}"`).join("\n")}\n`);
  writeFileSync(ariaList, `${urls.join("\n")}\n`);
  const fitsIn = (dir) => countFitsIn(dir);
  const peers = [
    {
      name: "curl",
      cmd: "curl",
      argv: (out) => curlArgv(curlCfg, out, C, ["--show-error"]),
      got: (out) => fitsIn(out),
    },
    {
      name: "aria2c",
      cmd: "aria2c",
      argv: (out) => aria2Argv(ariaList, out, C),
      got: (out) => fitsIn(out),
    },
    {
      name: "floor",
      cmd: process.execPath,
      argv: (out) => [
        process.execPath,
        FLOOR,
        "--base",
        base,
        "--files",
        String(N),
        "--out",
        out,
        "--concurrency",
        String(C),
      ],
      got: (out) => fitsIn(join(out, "x")),
    },
    {
      name: "vocut-files",
      cmd: process.execPath,
      argv: (out) => vocutArgv(catalog, out, "files", urlSource),
      got: vocutDone,
    },
  ];
  if (tarStore)
    peers.push({
      name: "vocut-tar",
      cmd: process.execPath,
      argv: (out) => vocutArgv(catalog, out, "tar", urlSource),
      got: vocutDone,
    });
  return peers.filter((p) => values.peers.split(",").includes(p.name));
}

function countFitsIn(dir) {
  try {
    return readdirSync(dir).filter((f) => f.endsWith(".fits")).length;
  } catch {
    return 0;
  }
}

let runCount = 0;
/**
 * Run each peer RUNS times, round by round (a drift of the machine during the bench then shifts every
 * peer alike), each in a fresh folder; the folders are removed only at the end: deleting thousands of
 * files between runs makes ext4 skip the freed inodes for a while, which inflated the next run's sys time.
 */
async function rounds(peers, expect) {
  const runs = new Map(peers.map((p) => [p.name, []]));
  for (let r = 0; r < RUNS; r++) {
    for (const peer of peers) {
      const out = join(outRoot, `${peer.name}-${++runCount}`);
      mkdirSync(out, { recursive: true });
      spawnSync("sync"); // one run's writeback must not land on the next one's time
      const t = await timed(peer.argv(out));
      const got = peer.got(out);
      const files = countFiles(out);
      if (t.code !== 0 || got !== expect)
        console.log(
          `  ${peer.name}: exit ${t.code}, ${got}/${expect}` +
            (t.stderr.trim() === "" ? "" : `; stderr: ${t.stderr.trim().split("\n").slice(-3).join(" | ")}`),
        );
      runs.get(peer.name).push({ ...t, got, files });
      console.log(
        `  round ${r + 1} ${peer.name}: wall ${t.wall.toFixed(2)} s, CPU ${t.user.toFixed(2)}u+${t.sys.toFixed(2)}s, ${got}/${expect}, ${files} files`,
      );
    }
  }
  return peers.map((p) => {
    const rs = runs.get(p.name);
    return {
      name: p.name,
      n: expect,
      ok: rs.every((x) => x.code === 0 && x.got === expect),
      wall: median(rs.map((x) => x.wall)),
      cpu: median(rs.map((x) => x.cpu)),
      user: median(rs.map((x) => x.user)),
      sys: median(rs.map((x) => x.sys)),
      rss: median(rs.map((x) => x.rssMb)),
      files: median(rs.map((x) => x.files)),
      walls: rs.map((x) => x.wall),
    };
  });
}

function printTable(title, rows, refs) {
  const ref = (name) => rows.find((r) => r.name === name);
  const head = [
    "run",
    "done",
    "wall s (median; runs)",
    "CPU s (user + sys)",
    "CPU us/file",
    "RSS MB",
    "files created",
  ];
  for (const r of refs) head.push(`wall / ${r}`);
  console.log(`\n${title}\n\n| ${head.join(" | ")} |`);
  console.log(`|${head.map((_h, i) => (i < 1 ? "---" : "---:")).join("|")}|`);
  for (const r of rows) {
    const cells = [
      r.name,
      `${r.ok ? "" : "FAILED "}${r.n}`,
      `${r.wall.toFixed(2)} (${r.walls.map((w) => w.toFixed(2)).join(" ")})`,
      `${r.cpu.toFixed(2)} (${r.user.toFixed(2)} + ${r.sys.toFixed(2)})`,
      ((1e6 * r.cpu) / r.n).toFixed(0),
      r.rss.toFixed(0),
      String(r.files),
    ];
    for (const name of refs) {
      const x = ref(name);
      cells.push(x === undefined ? "-" : `${(r.wall / x.wall).toFixed(2)}x`);
    }
    console.log(`| ${cells.join(" | ")} |`);
  }
}

async function nginxPart(tarStore) {
  if (!have("nginx")) return missing("nginx", "the nginx part");
  const lines = makeFitsFiles(www, N);
  writeFileSync(join(work, "catalog.csv"), `${lines.join("\n")}\n`);
  const nginx = await startNginx(work, www);
  try {
    const peers = nginxPeers(`http://127.0.0.1:${nginx.port}`, tarStore).filter((p) => {
      if (have(p.cmd)) return true;
      missing(p.cmd, p.name);
      return false;
    });
    console.log(`\n== ${N} files of 8,640 bytes from nginx on 127.0.0.1, ${C} at a time, median of ${RUNS}`);
    const rows = await rounds(peers, N);
    printTable(`${N} files from nginx (one run, median of ${RUNS})`, rows, ["floor", "curl"]);
  } finally {
    await nginx.stop();
  }
}

async function hipsPart(tarStore) {
  const catalog = writeFieldCatalog(join(work, `hips-${TARGETS}.csv`), TARGETS, TARGETS);
  const hips = ["g", "r", "i"].map((b) => `${b}=${join(ROOT, "fixtures/hips", `sample-${b}`)}`).join(",");
  const source = ["--hips", hips, "--size", "28", "--pixscale", "0.8"];
  const peers = ["files", ...(tarStore ? ["tar"] : [])].map((store) => ({
    name: `vocut-${store}`,
    argv: (out) => vocutArgv(catalog, out, store, source),
    got: vocutDone,
  }));
  const n = TARGETS * 3;
  console.log(`\n== local HiPS: ${TARGETS} targets x 3 bands (${n} stamps), median of ${RUNS}`);
  const rows = await rounds(peers, n);
  printTable(`${n} stamps from the local sample HiPS (one run, median of ${RUNS})`, rows, ["vocut-files"]);
  for (const r of rows) console.log(`  ${r.name}: ${(r.n / r.wall).toFixed(0)} stamps/s`);
}

try {
  console.log(
    `vocut cost bench on node ${process.version}, ${execFileSync("nproc").toString().trim()} cores; work dir ${work}; outputs in ${outRoot} (${fsType(outRoot)})` +
      (ledgerRoot === undefined ? "" : `; ledgers in ${ledgerRoot} (${fsType(ledgerRoot)})`),
  );
  const tarStore = vocutHasTarStore();
  if (!tarStore) console.log("(vocut --store tar skipped: this vocut's `run` has no --store tar)");
  if (!have("/usr/bin/time")) missing("/usr/bin/time", "the whole bench (CPU and RSS come from GNU time)");
  else {
    if (!values.only || values.only === "nginx") await nginxPart(tarStore);
    if (!values.only || values.only === "hips") await hipsPart(tarStore);
  }
} finally {
  rmSync(outRoot, { recursive: true, force: true });
  if (ledgerRoot !== undefined) rmSync(ledgerRoot, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
}
