/**
 * examples/slurm-array.sh on a real one-node SLURM cluster (test/slurm/run.sh starts it and sets
 * SLURM_CONF and VOCUT_SLURM_JOBCOMP): sbatch, scancel, time limits and --signal as clusters run them,
 * against a real cutout server on 127.0.0.1. Run with `npm run test:slurm` (root; installs slurm-wlm and
 * munge if missing); `npm test` does not include it.
 */
import { execFile } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shardOf } from "../../src/plan/shard.js";
import { CLI, listFiles, runCli, tempDir } from "../helpers/cli.js";
import { CutoutServer, type SeenRequest } from "../helpers/cutout-server.js";

const exec = promisify(execFile);
const SCRIPT = resolve(import.meta.dirname, "../../examples/slurm-array.sh");
const BANDS = "g=CDS/P/SDSS9/g,r=CDS/P/SDSS9/r";

let tmp: ReturnType<typeof tempDir>;
const servers: CutoutServer[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function server(latencyMs: number): Promise<CutoutServer> {
  const s = await new CutoutServer({ latencyMs }).start();
  servers.push(s);
  return s;
}

/** A catalog of n targets; returns its path and the target id of each "ra,dec" (6 decimals). */
function catalog(name: string, n: number): { path: string; idAt: Map<string, string> } {
  const lines = ["id,ra,dec"];
  const idAt = new Map<string, string>();
  for (let i = 0; i < n; i++) {
    const ra = (150 + i * 0.001).toFixed(6);
    const dec = (2 + i * 0.0007).toFixed(6);
    lines.push(`${name}${i},${ra},${dec}`);
    idAt.set(`${ra},${dec}`, `${name}${i}`);
  }
  const path = join(tmp.dir, `${name}.csv`);
  writeFileSync(path, `${lines.join("\n")}\n`);
  return { path, idAt };
}

/** The target id a request asked for. */
function idOf(r: SeenRequest, idAt: Map<string, string>): string {
  const q = new URL(r.url, "http://x").searchParams;
  const id = idAt.get(`${Number(q.get("ra")).toFixed(6)},${Number(q.get("dec")).toFixed(6)}`);
  if (id === undefined) throw new Error(`request for no target: ${r.url}`);
  return id;
}

/** Submit examples/slurm-array.sh; returns the (array) job id. */
async function sbatch(
  name: string,
  options: readonly string[],
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<string> {
  const { stdout } = await exec(
    "sbatch",
    ["--parsable", `--output=${join(tmp.dir, `${name}-%A_%a.log`)}`, ...options, SCRIPT, ...args],
    { env: { ...process.env, VOCUT: `${process.execPath} ${CLI}`, ...env } },
  );
  return stdout.trim().split(";")[0] ?? "";
}

/** Wait until squeue lists no task of the job any more: every process of it has ended. */
async function waitGone(jobId: string, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    const out = await exec("squeue", ["-h", "-j", jobId, "-o", "%i %T"]).then(
      (r) => r.stdout.trim(),
      () => "", // purged: long gone
    );
    if (out === "") return;
    await sleep(500);
  }
  throw new Error(`job ${jobId} still in squeue after ${timeoutMs} ms`);
}

/** SLURM's final record of each task of an array job (jobcomp/filetxt): task id -> state and exit code. */
function finalStates(jobId: string): Map<number, { state: string; exit: string }> {
  const file = process.env.VOCUT_SLURM_JOBCOMP ?? "";
  const out = new Map<number, { state: string; exit: string }>();
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const f = Object.fromEntries(
      line
        .split(" ")
        .filter((w) => w.includes("="))
        .map((w) => [w.slice(0, w.indexOf("=")), w.slice(w.indexOf("=") + 1)]),
    );
    if (f.ArrayJobId === jobId)
      out.set(Number(f.ArrayTaskId), { state: f.JobState ?? "", exit: f.ExitCode ?? "" });
  }
  return out;
}

/** Every log of a job, by array task id. */
function logs(name: string, jobId: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const f of readdirSync(tmp.dir)) {
    const m = new RegExp(`^${name}-${jobId}_(\\d+)\\.log$`).exec(f);
    if (m !== null) out.set(Number(m[1]), readFileSync(join(tmp.dir, f), "utf8"));
  }
  return out;
}

/** Processes whose command line mentions path (a vocut left behind by a task). */
function processesUsing(path: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      if (cmd.includes(path) && Number(pid) !== process.pid) found.push(`${pid}: ${cmd}`);
    } catch {
      // ended while we looked
    }
  }
  return found;
}

/** The most requests in any window of windowMs. */
function busiestWindow(times: readonly number[], windowMs: number): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  let j = 0;
  for (let i = 0; i < t.length; i++) {
    while ((t[i] ?? 0) - (t[j] ?? 0) >= windowMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

/** The same job in one process outside SLURM, for byte-exact comparison of every cutout. */
async function reference(cat: string, name: string): Promise<string> {
  const s = await server(0);
  const out = join(tmp.dir, `${name}-reference`);
  const r = await runCli([
    ...["run", cat, "--out", out, "--hips2fits", BANDS, "--hips2fits-url", s.url],
    ...["--rate", "1000", "--concurrency", "8", "--quiet"],
  ]);
  expect(r.code).toBe(0);
  return out;
}

function expectSameCutouts(out: string, ref: string, count: number): void {
  const files = listFiles(out).filter((f) => f.endsWith(".fits"));
  expect(files).toHaveLength(count);
  expect(files).toEqual(listFiles(ref).filter((f) => f.endsWith(".fits")));
  for (const f of files) expect(readFileSync(join(out, f)).equals(readFileSync(join(ref, f)))).toBe(true);
  expect(listFiles(out).filter((f) => f.includes(".vocut-tmp"))).toEqual([]);
}

async function statusOf(out: string): Promise<{
  byState: Record<string, number>;
  merged: { shards: number } | null;
}> {
  return JSON.parse((await runCli(["status", out, "--json"])).stdout);
}

function doneIn(ledger: string): number {
  const db = new Database(ledger, { readonly: true });
  try {
    return (db.prepare("SELECT count(*) AS n FROM task WHERE state = 'done'").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** Figures for the report, printed at the end. */
const figures: string[] = [];

// The two time-limit jobs take about a minute whatever happens: submit them first, check them last.
let timeLimit: { job: string; cat: string; out: string; server: CutoutServer } | undefined;
let signalled: { job: string; out: string; server: CutoutServer } | undefined;

beforeAll(async () => {
  if (process.env.SLURM_CONF === undefined || process.env.VOCUT_SLURM_JOBCOMP === undefined) {
    throw new Error("no SLURM cluster: run this through `npm run test:slurm` (test/slurm/run.sh)");
  }
  tmp = tempDir("vocut-slurm-");
  const sinfo = await exec("sinfo", ["-h", "-o", "%T"]);
  expect(sinfo.stdout.trim()).toBe("idle");

  // More work than fits in one minute: 150 targets x 2 bands at 2 req/s per shard is 75 s a shard.
  const s3 = await server(20);
  const cat3 = catalog("limit", 150);
  const out3 = join(tmp.dir, "limit-out");
  timeLimit = {
    job: await sbatch(
      "limit",
      ["--array=0-1", "--time=1"],
      [cat3.path, out3, "--hips2fits", BANDS, "--hips2fits-url", s3.url, "--rate", "4"],
    ),
    cat: cat3.path,
    out: out3,
    server: s3,
  };
  // SLURM's own warning: TERM to the batch shell 80 s before the end of a 2-minute job (SLURM sends it up
  // to a minute early); the time-left stop is pushed past it (margin 5 s) so the signal is what stops.
  const s4 = await server(20);
  const cat4 = catalog("signal", 100);
  const out4 = join(tmp.dir, "signal-out");
  signalled = {
    job: await sbatch(
      "signal",
      ["--array=0", "--time=2", "--signal=B:TERM@80"],
      [cat4.path, out4, "--hips2fits", BANDS, "--hips2fits-url", s4.url, "--rate", "2"],
      { VOCUT_MARGIN_S: "5" },
    ),
    out: out4,
    server: s4,
  };
}, 60_000);

afterAll(async () => {
  for (const s of servers) await s.stop();
  if (figures.length > 0) process.stdout.write(`\nSLURM figures:\n  ${figures.join("\n  ")}\n`);
  // VOCUT_SLURM_KEEP=1 keeps the job logs, ledgers and cutouts for a look after a failure.
  if (process.env.VOCUT_SLURM_KEEP === "1") process.stdout.write(`kept ${tmp?.dir}\n`);
  else tmp?.cleanup();
});

describe("examples/slurm-array.sh on a real SLURM cluster", () => {
  it("a 4-task array runs to the end: every cutout exact, merged ledger at 100%, each shard at 1/4 of --rate", async () => {
    const s = await server(50);
    const cat = catalog("full", 40);
    const out = join(tmp.dir, "full-out");
    const t0 = Date.now();
    const job = await sbatch(
      "full",
      ["--array=0-3"],
      [cat.path, out, "--hips2fits", BANDS, "--hips2fits-url", s.url, "--rate", "40", "--concurrency", "8"],
    );
    await waitGone(job, 90_000);
    figures.push(`4-task array to the end: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const states = finalStates(job);
    expect([...states.keys()].sort()).toEqual([0, 1, 2, 3]);
    for (const st of states.values()) expect(st).toEqual({ state: "COMPLETED", exit: "0:0" });
    const log = logs("full", job);
    for (const l of log.values()) {
      expect(l).toMatch(/shard \d\/4: 10\.0 req\/s and 2 connection\(s\) per host \(1\/4 of --rate 40\)/);
      expect(l).toMatch(/vocut: exit 0/);
    }
    expect([...log.values()].some((l) => /merged 4 of 4 shard\(s\)/.test(l))).toBe(true);

    const st = await statusOf(out);
    expect(st.byState.done).toBe(80);
    expect(st.merged?.shards).toBe(4);
    expectSameCutouts(out, await reference(cat.path, "full"), 80);

    // Each product asked once; no shard faster than its quarter of --rate 40 (token bucket, burst 1:
    // at most 1 + 10 requests in any second; +1 for the jitter of arrival times).
    expect(s.requests).toHaveLength(80);
    const byShard = new Map<number, number[]>();
    for (const r of s.requests) {
      const k = shardOf(idOf(r, cat.idAt), 4);
      byShard.set(k, [...(byShard.get(k) ?? []), r.at]);
    }
    expect([...byShard.keys()].sort()).toEqual([0, 1, 2, 3]);
    for (const [k, times] of byShard) {
      const span = (Math.max(...times) - Math.min(...times)) / 1000;
      const rate = (times.length - 1) / span;
      figures.push(
        `shard ${k}/4: ${times.length} requests at ${rate.toFixed(2)} req/s (limit 10), busiest second ${busiestWindow(times, 1000)}`,
      );
      expect(busiestWindow(times, 1000)).toBeLessThanOrEqual(12);
      expect(rate).toBeLessThanOrEqual(10 * 1.15);
    }
    expect(
      busiestWindow(
        s.requests.map((r) => r.at),
        1000,
      ),
    ).toBeLessThanOrEqual(4 * 12);
  }, 120_000);

  it("scancel mid-run, then the same sbatch: nothing orphaned, no exit 6, no repeats beyond the requests in flight", async () => {
    const s = await server(200);
    const cat = catalog("cancel", 80);
    const out = join(tmp.dir, "cancel-out");
    const args = [
      cat.path,
      out,
      "--hips2fits",
      BANDS,
      "--hips2fits-url",
      s.url,
      "--rate",
      "16",
      "--concurrency",
      "4",
    ];
    const first = await sbatch("cancel", ["--array=0-3"], args);
    const t0 = Date.now();
    while (s.requests.length < 20 && Date.now() - t0 < 60_000) await sleep(50);
    const inFlight = s.inFlight;
    await exec("scancel", [first]);
    const tCancel = Date.now();
    await waitGone(first, 60_000);
    figures.push(
      `scancel with ${inFlight} request(s) in flight after ${s.requests.length} request(s); tasks gone ${((Date.now() - tCancel) / 1000).toFixed(1)} s after scancel`,
    );
    expect(inFlight).toBeGreaterThan(0);
    expect(processesUsing(out)).toEqual([]);
    for (const st of finalStates(first).values()) expect(st.state).toBe("CANCELLED");
    const cancelled = logs("cancel", first);
    expect(cancelled.size).toBe(4);
    for (const l of cancelled.values()) {
      // The script passed the signal on, vocut drained, and the script itself lived to report it.
      // One stop: scancel's SIGTERM to vocut and the one the script passes on count once (no abort).
      expect(l.match(/SIGTERM: finishing requests in flight \(up to \d+ s\), then stopping/g)).toHaveLength(
        1,
      );
      expect(l).toMatch(/work left .*submit the same array again/);
      expect(l).toMatch(/vocut: exit 5/);
    }
    const asked = s.requests.length;
    const doneBefore = [0, 1, 2, 3]
      .map((i) => doneIn(join(out, `vocut.shard-${i}-of-4.db`)))
      .reduce((a, b) => a + b, 0);

    const again = await sbatch("cancel", ["--array=0-3"], args);
    await waitGone(again, 90_000);
    const states = finalStates(again);
    expect([...states.keys()].sort()).toEqual([0, 1, 2, 3]);
    for (const st of states.values()) expect(st).toEqual({ state: "COMPLETED", exit: "0:0" });
    for (const l of logs("cancel", again).values()) expect(l).not.toMatch(/in use by another process/);
    expect(processesUsing(out)).toEqual([]);

    const perKey = s.countsByKey();
    expect(perKey.size).toBe(160);
    const repeats = s.requests.length - perKey.size;
    figures.push(
      `cancel + resubmit: ${asked} request(s) before the cancel (${doneBefore} done in the ledgers), ${s.requests.length} in all, ${repeats} repeat(s) (bound: ${inFlight} in flight at the cancel)`,
    );
    expect(repeats).toBeLessThanOrEqual(inFlight);
    const st = await statusOf(out);
    expect(st.byState.done).toBe(160);
    expect(st.merged?.shards).toBe(4);
    expectSameCutouts(out, await reference(cat.path, "cancel"), 160);
  }, 180_000);

  it("--time=1 with more work than fits ends with exit 5 before the limit, not TIMEOUT; resubmitting part of the array keeps the split", async () => {
    const t = timeLimit;
    if (t === undefined) throw new Error("not submitted");
    await waitGone(t.job, 150_000);
    const states = finalStates(t.job);
    expect([...states.keys()].sort()).toEqual([0, 1]);
    // A batch script that exits 5 is FAILED with ExitCode 5:0 in SLURM's words; TIMEOUT is the kill.
    for (const st of states.values()) expect(st).toEqual({ state: "FAILED", exit: "5:0" });
    for (const l of logs("limit", t.job).values()) {
      expect(l).toMatch(/vocut: \d+ s left in this job: stopping after \d+ s/);
      expect(l).toMatch(/--max-duration reached: stopping/);
      expect(l).toMatch(/work left .*submit the same array again/);
      expect(l).toMatch(/vocut: exit 5/);
      expect(l).not.toMatch(/DUE TO TIME LIMIT/);
      figures.push(`--time=1: ${/vocut: \d+ s left[^\n]*/.exec(l)?.[0]}`);
    }
    const done = doneIn(join(t.out, "vocut.shard-0-of-2.db")) + doneIn(join(t.out, "vocut.shard-1-of-2.db"));
    figures.push(`--time=1: ${done} of 300 done, ${t.server.requests.length} requests`);
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThan(300);
    expect(t.server.countsByKey().size).toBe(t.server.requests.length);
    expect(processesUsing(t.out)).toEqual([]);

    // Resubmit part of the array, as the issue's user did: `--array=1` alone (SLURM: count 1, min 1)
    // must resume shard 1 of 2 at half the rate, not plan a 1-shard job; then `--array=0` merges.
    const args = [t.cat, t.out, "--hips2fits", BANDS, "--hips2fits-url", t.server.url, "--rate", "200"];
    const one = await sbatch("limit", ["--array=1"], args);
    await waitGone(one, 90_000);
    expect(finalStates(one).get(1)).toEqual({ state: "COMPLETED", exit: "0:0" });
    const l1 = logs("limit", one).get(1) ?? "";
    expect(l1).toMatch(/shard 1\/2: 100 req\/s/);
    expect(l1).not.toMatch(/merged/); // shard 0 still has work
    const zero = await sbatch("limit", ["--array=0"], args);
    await waitGone(zero, 90_000);
    expect(finalStates(zero).get(0)).toEqual({ state: "COMPLETED", exit: "0:0" });
    expect(logs("limit", zero).get(0)).toMatch(/merged 2 of 2 shard\(s\)/);
    expect(readdirSync(t.out).filter((f) => f.startsWith("vocut.shard-"))).toEqual([
      "vocut.shard-0-of-2.db",
      "vocut.shard-1-of-2.db",
    ]);
    expect((await statusOf(t.out)).byState.done).toBe(300);
    // The stop at the limit drained its requests in flight: nothing was asked twice.
    expect(t.server.countsByKey().size).toBe(300);
    expect(t.server.requests).toHaveLength(300);
  }, 180_000);

  it("sbatch --signal=B:TERM@80: the script passes SLURM's warning on to vocut, which stops with exit 5", async () => {
    const t = signalled;
    if (t === undefined) throw new Error("not submitted");
    await waitGone(t.job, 150_000);
    expect(finalStates(t.job).get(0)).toEqual({ state: "FAILED", exit: "5:0" });
    const l = logs("signal", t.job).get(0) ?? "";
    expect(l).toMatch(/vocut: SIGTERM received: stopping vocut cleanly/);
    expect(l).toMatch(/SIGTERM: finishing requests in flight \(up to \d+ s\), then stopping/);
    expect(l).not.toMatch(/--max-duration reached/);
    expect(l).toMatch(/vocut: exit 5/);
    figures.push(
      `--signal=B:TERM@80 on --time=2: ${doneIn(join(t.out, "vocut.shard-0-of-1.db"))} of 200 done`,
    );
    expect(processesUsing(t.out)).toEqual([]);
  }, 180_000);
});
