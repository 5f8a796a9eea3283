import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { validateFits } from "../../src/fits/validate.js";
import { CLI, type CliResult, hips2fitsRunArgs, runCli, tempDir, waitFor } from "../helpers/cli.js";
import { CutoutServer, type Fault } from "../helpers/cutout-server.js";

/**
 * Issue 15: a stuck job must end on its own (the watchdog) and on a signal, in every state. The bound
 * asserted is generous (a loaded machine): it tells "ends" from "hangs", it does not measure speed.
 */
const ENDS_WITHIN_MS = 15_000;

/** Preload that makes every asynchronous fsync hang (a group sync that never returns). */
const HANG_FSYNC = resolve(import.meta.dirname, "../helpers/hang-fsync.mjs");

/** Cleanups of one test (vitest's test context: right for concurrent tests too). */
type OnFinished = (fn: () => void | Promise<void>) => void;

/**
 * One test's temp folder and test server (faults by request number), and the CLI processes it starts:
 * after the test they are killed and removed. Per test, so the tests that mostly wait (grace periods,
 * watchdogs) can wait together.
 */
async function rig(onFinished: OnFinished, fault?: (n: number) => Fault | undefined) {
  const tmp = tempDir("vocut-stall-cli-");
  const children: ChildProcess[] = [];
  const server = await new CutoutServer(fault ? { fault } : {}).start();
  onFinished(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    await server.stop();
    tmp.cleanup();
  });
  return {
    dir: tmp.dir,
    server,
    writeCatalog(n: number): string {
      const lines = ["id,ra,dec"];
      for (let i = 0; i < n; i++)
        lines.push(`obj${i},${(150 + i * 0.001).toFixed(6)},${(2 + i * 0.0007).toFixed(6)}`);
      const path = join(tmp.dir, "catalog.csv");
      writeFileSync(path, `${lines.join("\n")}\n`);
      return path;
    },
    /** The built CLI with node flags (a preload), collecting its output. */
    start(
      args: readonly string[],
      opts: { nodeArgs?: readonly string[]; env?: Record<string, string> } = {},
    ) {
      const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), CLI, ...args], {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, ...opts.env },
      });
      children.push(child);
      const out = { stdout: "", stderr: "" };
      child.stdout?.on("data", (d: Buffer) => {
        out.stdout += d.toString();
      });
      child.stderr?.on("data", (d: Buffer) => {
        out.stderr += d.toString();
      });
      const done = new Promise<CliResult>((r) => {
        child.on("close", (code, signal) => r({ code, signal, ...out }));
      });
      return { child, out, done };
    },
  };
}
type Started = ReturnType<Awaited<ReturnType<typeof rig>>["start"]>;

/** `vocut run` against the test server; a request timeout far beyond the test. */
const runArgs = (cat: string, out: string, url: string, ...extra: string[]) =>
  hips2fitsRunArgs(cat, out, url, "--rate", "1000", "--concurrency", "4", "--timeout", "3600", ...extra);

async function statusOf(out: string): Promise<{ byState: Record<string, number>; lock: unknown }> {
  return JSON.parse((await runCli(["status", out, "--json"])).stdout) as {
    byState: Record<string, number>;
    lock: unknown;
  };
}

/** A run of 6 targets against a server that never answers, once its 4 requests are in flight. */
async function stuckRun(onFinished: OnFinished): Promise<{ out: string; run: Started }> {
  const t = await rig(onFinished, () => ({ kind: "stall" }));
  const out = join(t.dir, "out");
  const run = t.start(runArgs(t.writeCatalog(6), out, t.server.url));
  await t.server.whenRequests(4);
  return { out, run };
}

/** Send `sig` and time how long the process takes to end. */
async function stopWith(run: Started, ...sigs: NodeJS.Signals[]): Promise<CliResult & { ms: number }> {
  const t0 = Date.now();
  for (const s of sigs) run.child.kill(s);
  const r = await run.done;
  return { ...r, ms: Date.now() - t0 };
}

// These tests mostly wait (the grace periods after a signal, the watchdog's timeout) with no CPU used:
// they run together, each with its own folder, server and processes.
describe.concurrent("a stuck run ends", () => {
  describe("signals end a run in every state (issue 15)", () => {
    it("SIGTERM while requests never answer: in-flight requests get a grace period, then are aborted; exit 5, lock released, tasks back to pending", async ({
      onTestFinished,
    }) => {
      const { out, run } = await stuckRun(onTestFinished);
      const r = await stopWith(run, "SIGTERM");
      expect(r.code).toBe(5);
      expect(r.ms).toBeLessThan(ENDS_WITHIN_MS);
      expect(r.stderr).toMatch(/SIGTERM: finishing requests in flight/);
      const st = await statusOf(out);
      expect(st.byState).toMatchObject({ pending: 6, running: 0, done: 0 });
      expect(st.lock).toBeNull();
    }, 60_000);

    it("a second signal (after the SIGTERM echo window) aborts requests in flight at once", async ({
      onTestFinished,
    }) => {
      const { out, run } = await stuckRun(onTestFinished);
      run.child.kill("SIGTERM");
      await waitFor(() => run.out.stderr.includes("SIGTERM: finishing"));
      const r = await stopWith(run, "SIGINT");
      expect(r.code).toBe(5);
      expect(r.stderr).toMatch(/SIGINT: aborting requests in flight/);
      expect((await statusOf(out)).byState).toMatchObject({ pending: 6, running: 0 });
    }, 60_000);

    it("SIGTERM while a group sync never returns: the final flush is abandoned after a grace period; exit 5, nothing undurable recorded; the next run adopts the answers and finishes", async ({
      onTestFinished,
    }) => {
      const t = await rig(onTestFinished);
      const s = t.server;
      const out = join(t.dir, "out");
      const cat = t.writeCatalog(3);
      const mark = join(t.dir, "fsync-hung");
      const run = t.start(runArgs(cat, out, s.url, "--stall-timeout", "0"), {
        nodeArgs: ["--import", HANG_FSYNC],
        env: { HANG_FSYNC_MARK: mark },
      });
      await waitFor(() => existsSync(mark) && s.requests.length === 3);
      const r = await stopWith(run, "SIGTERM");
      expect(r.code).toBe(5);
      expect(r.ms).toBeLessThan(ENDS_WITHIN_MS);
      expect(r.stderr).toMatch(/gave up waiting for work in flight/);
      const st = await statusOf(out);
      expect(st.byState.done).toBe(0);
      expect(st.lock).toBeNull();
      // Resubmitted (on a healthy disk) it finishes without asking again: the three answers are whole in
      // the temp folder under their tasks' tags, and are adopted (issue 10, part 8).
      const again = await runCli(runArgs(cat, out, s.url, "--quiet"));
      expect(again.code).toBe(0);
      expect(s.requests).toHaveLength(3);
      for (let i = 0; i < 3; i++)
        expect(validateFits(readFileSync(join(out, "g", `obj${i}.fits`))).ok).toBe(true);
    }, 60_000);

    it("SIGTERM during a Retry-After pause: exit 5 promptly, the retry kept for the next run", async ({
      onTestFinished,
    }) => {
      const t = await rig(onTestFinished, () => ({ kind: "status", status: 429, retryAfter: "600" }));
      const s = t.server;
      const out = join(t.dir, "out");
      const run = t.start(runArgs(t.writeCatalog(3), out, s.url, "--json"));
      await waitFor(() => run.out.stdout.includes('"state":"retry"'));
      const r = await stopWith(run, "SIGTERM");
      expect(r.code).toBe(5);
      expect(r.ms).toBeLessThan(ENDS_WITHIN_MS);
      expect((await statusOf(out)).byState).toMatchObject({ running: 0, done: 0 });
    }, 60_000);
  });

  describe("the watchdog ends a stuck job with exit 5 (--stall-timeout)", () => {
    it("requests that never answer: it says what it waited for, aborts them and exits 5; resubmitted, the job finishes", async ({
      onTestFinished,
    }) => {
      let stuck = true;
      const t = await rig(onTestFinished, () => (stuck ? { kind: "stall" } : undefined));
      const s = t.server;
      const out = join(t.dir, "out");
      const cat = t.writeCatalog(6);
      const run = t.start(runArgs(cat, out, s.url, "--stall-timeout", "2s"));
      const r = await run.done;
      expect(r.code).toBe(5);
      const host = new URL(s.url).host;
      expect(r.stderr).toMatch(
        new RegExp(
          `stalled: nothing settled, failed or was retried for \\d+s .*4 request\\(s\\) in flight to ${host}`,
        ),
      );
      expect(r.stderr).toMatch(/resubmit the same command/);
      const st = await statusOf(out);
      expect(st.byState).toMatchObject({ pending: 6, running: 0 });
      expect(st.lock).toBeNull();
      stuck = false;
      expect((await runCli(runArgs(cat, out, s.url, "--quiet"))).code).toBe(0);
    }, 60_000);

    it("a group sync that never returns: it names the files waiting on it and exits 5 even though the sync never ends", async ({
      onTestFinished,
    }) => {
      const t = await rig(onTestFinished);
      const s = t.server;
      const out = join(t.dir, "out");
      const run = t.start(runArgs(t.writeCatalog(3), out, s.url, "--stall-timeout", "2s"), {
        nodeArgs: ["--import", HANG_FSYNC],
      });
      const r = await run.done;
      expect(r.code).toBe(5);
      // The files of the hung group, and any staged behind it (how they split depends on timing).
      expect(r.stderr).toMatch(
        /stalled: .* [123] file\(s\) in a group sync \(fsync\/syncfs\) that has not returned/,
      );
      expect(r.stderr).toMatch(/gave up waiting for work in flight/);
      const st = await statusOf(out);
      expect(st.byState.done).toBe(0);
      expect(st.lock).toBeNull();
    }, 60_000);
  });
});

describe("signals while planning (issue 15)", () => {
  it("SIGTERM while a big catalog is being planned: planning stops between rows, exit 5, what was planned stays", async ({
    onTestFinished,
  }) => {
    // Planning 300,000 targets takes seconds even on a fast machine; the signal comes as soon as the
    // ledger exists.
    const t = await rig(onTestFinished);
    const lines = ["id,ra,dec"];
    for (let i = 0; i < 300_000; i++)
      lines.push(`o${i},${((i % 36_000) / 100).toFixed(4)},${((i % 1000) / 100).toFixed(3)}`);
    const cat = join(t.dir, "big.csv");
    writeFileSync(cat, `${lines.join("\n")}\n`);
    const out = join(t.dir, "out");
    const run = t.start([
      "run",
      cat,
      "--out",
      out,
      "--url",
      "http://127.0.0.1:9/c?ra={ra}&b={band}",
      "--bands",
      "g,r",
    ]);
    await waitFor(() => existsSync(join(out, "vocut.db")));
    const r = await stopWith(run, "SIGTERM");
    expect(r.code).toBe(5);
    expect(r.ms).toBeLessThan(ENDS_WITHIN_MS);
    expect(r.stderr).toMatch(/stopped while planning: run the same command again/);
    const st = (await statusOf(out)) as { byState: Record<string, number>; lock: unknown; total?: number };
    const planned = Object.values(st.byState).reduce((a, b) => a + b, 0);
    expect(planned).toBeLessThan(600_000);
    expect(planned % 2).toBe(0); // whole targets: both bands of each
    expect(st.byState.running).toBe(0);
    expect(st.lock).toBeNull();
  }, 60_000);
});

describe("--stall-timeout values", () => {
  it("bad --stall-timeout values are usage errors (exit 2); 0 turns the watchdog off; the env variable sets it", async ({
    onTestFinished,
  }) => {
    const t = await rig(onTestFinished);
    const s = t.server;
    const cat = t.writeCatalog(2);
    for (const bad of ["-1", "abc", "10x", "", "1e3", "100000h"]) {
      const r = await runCli(runArgs(cat, join(t.dir, "bad"), s.url, "--stall-timeout", bad));
      expect(r.code, bad).toBe(2);
      expect(r.stderr, bad).toMatch(/--stall-timeout/);
    }
    const envBad = await runCli(runArgs(cat, join(t.dir, "bad"), s.url), { VOCUT_STALL_TIMEOUT: "soon" });
    expect(envBad.code).toBe(2);
    for (const ok of ["0", "1.5", "90s", "1h"]) {
      const r = await runCli(runArgs(cat, join(t.dir, `ok-${ok}`), s.url, "--stall-timeout", ok, "--quiet"));
      expect(r.code, ok).toBe(0);
    }
  }, 60_000);
});
