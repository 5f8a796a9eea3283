import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Clock, realClock, VirtualClock } from "../../src/fetch/clock.js";
import { DEFAULTS } from "../../src/fetch/defaults.js";
import { HostPacer } from "../../src/fetch/host-pacer.js";
import { createHttpClient, type HttpClient } from "../../src/fetch/http-client.js";
import { validateFits } from "../../src/fits/validate.js";
import { Ledger } from "../../src/ledger/ledger.js";
import { FileStore } from "../../src/output/store.js";
import { AtomicWriter } from "../../src/output/write-atomic.js";
import { type RunOptions, runTasks } from "../../src/run/run-job.js";
import { tempDir, waitFor } from "../helpers/cli.js";
import { CutoutServer, type Fault } from "../helpers/cutout-server.js";
import { plannedHips2fitsJob } from "../helpers/task-rig.js";

const MIN = 60_000;

let tmp: ReturnType<typeof tempDir>;
const cleanups: Array<() => Promise<void> | void> = [];
beforeEach(() => {
  tmp = tempDir("vocut-run-stall-");
});
afterEach(async () => {
  // Server first: its sockets are destroyed, so requests that never got an answer end and the client
  // can close.
  for (const c of cleanups.splice(0).reverse()) await c();
  tmp.cleanup();
});

/** n targets x 2 bands against a local hips2fits server; the run's clock and writer are the test's. */
async function setup(
  n: number,
  opts: {
    fault?: (n: number) => Fault | undefined;
    makeDurable?: (tmps: readonly string[]) => Promise<void>;
  } = {},
) {
  const server = await new CutoutServer(opts.fault ? { fault: opts.fault } : {}).start();
  const { out, writer, ledger, source } = plannedHips2fitsJob(
    tmp.dir,
    server.url,
    n,
    opts.makeDurable ? { makeDurable: opts.makeDurable } : {},
  );
  // A request timeout far beyond the test: a request the server never answers stays in flight.
  const client: HttpClient = createHttpClient({
    userAgent: "t",
    timeoutMs: 3_600_000,
    maxBytes: 1e6,
    maxRedirects: 2,
  });
  cleanups.push(async () => {
    await client.close();
  });
  cleanups.push(() => server.stop());
  const pacer = new HostPacer(
    { ...DEFAULTS.pacer, concurrency: 4, ratePerSec: 1000, burst: 1000, breakerFailures: 1000 },
    realClock,
  );
  const signals = { stop: new AbortController(), hard: new AbortController(), giveUp: new AbortController() };
  const stallReports: Array<{ idleMs: number; waitingFor: readonly string[] }> = [];
  const run = (clock: Clock, extra: Partial<RunOptions> = {}) =>
    runTasks(ledger, source, client, pacer, new FileStore(writer), clock, {
      outDir: out,
      layout: "{band}/{id}.fits",
      retries: 3,
      backoffBaseMs: 10,
      backoffCapMs: 50,
      maxInFlight: 4,
      claimBatch: 5,
      onEvent: () => {},
      stopSignal: signals.stop.signal,
      abortSignal: signals.hard.signal,
      giveUpSignal: signals.giveUp.signal,
      random: () => 0.5,
      // What execute() does when the watchdog fires: stop, abort requests, bound the final flush.
      onStall: (idleMs, waitingFor) => {
        stallReports.push({ idleMs, waitingFor });
        signals.stop.abort();
        signals.hard.abort();
      },
      ...extra,
    });
  return { server, out, ledger, writer, run, signals, stallReports };
}

describe("runTasks watchdog and bounded stop (issue 15)", () => {
  it("requests that never answer: the watchdog fires after exactly --stall-timeout, says what it waited for, the run ends 5 with the tasks requeued", async () => {
    const { server, ledger, run, stallReports } = await setup(3, { fault: () => ({ kind: "stall" }) });
    const clock = new VirtualClock(Date.parse("2026-01-01T00:00:00Z"));
    const p = run(clock, { stallTimeoutMs: 10 * MIN });
    await waitFor(() => server.requests.length === 4);
    await clock.advance(10 * MIN - 1);
    expect(stallReports).toEqual([]);
    await clock.advance(1);
    expect(stallReports).toHaveLength(1);
    expect(stallReports[0]?.idleMs).toBe(10 * MIN);
    const host = new URL(server.url).host;
    expect(stallReports[0]?.waitingFor).toContain(`4 request(s) in flight to ${host}, the oldest for 600 s`);
    expect(stallReports[0]?.waitingFor.join("\n")).toMatch(/claimed task\(s\) not started/);
    const r = await p;
    expect(r.stoppedBy).toBe("stall");
    expect(r.exitCode).toBe(5);
    expect(r.abandoned).toBe(false);
    expect(ledger.counts().byState).toMatchObject({ pending: 6, running: 0, done: 0 });
    ledger.close();
  });

  it("a group sync that never returns: the watchdog reports it, the give-up signal ends the wait, nothing undurable is recorded, and the next start takes the tasks back", async () => {
    const calls: string[][] = [];
    const { out, ledger, run, signals, stallReports } = await setup(3, {
      makeDurable: (tmps) => {
        calls.push([...tmps]);
        return new Promise<void>(() => {}); // a sync the kernel never finishes
      },
    });
    const clock = new VirtualClock();
    const p = run(clock, { stallTimeoutMs: 10 * MIN });
    await waitFor(() => calls.flat().length === 6);
    await clock.advance(10 * MIN);
    expect(stallReports).toHaveLength(1);
    expect(stallReports[0]?.waitingFor).toContain(
      "6 file(s) in a group sync (fsync/syncfs) that has not returned",
    );
    // The flush is still hung: execute() gives up after a grace period; here the test does.
    signals.giveUp.abort();
    const r = await p;
    expect(r.abandoned).toBe(true);
    expect(r.stoppedBy).toBe("stall");
    expect(r.exitCode).toBe(5);
    // Not one task recorded done, and no file at a final path: those tasks are asked again.
    expect(ledger.counts().byState).toMatchObject({ done: 0, running: 6 });
    expect(existsSync(join(out, "g", "t1.fits"))).toBe(false);
    ledger.close();

    // The next run (a resubmitted job) takes the ledger over and finishes the work.
    const writer2 = new AtomicWriter(out, { tempName: ".vocut-tmp" });
    const ledger2 = Ledger.open(join(out, "vocut.db"), { create: false });
    // The abandoned answers are whole in the temp folder under their task's tag: prepare() keeps them
    // for adoption (issue 10, part 8) instead of deleting them.
    expect(writer2.prepare()).toBe(0);
    const left = writer2.leftovers();
    expect(left).toHaveLength(6);
    for (const l of left)
      expect(createHash("sha256").update(readFileSync(l.tmp)).digest("hex")).toBe(l.sha256);
    expect(ledger2.requeue({ running: true })).toBe(6);
    ledger2.close();
  });

  it("a graceful stop while every task hangs is bounded by the give-up signal (the dispatcher notices the stop)", async () => {
    const { server, ledger, run, signals } = await setup(5, { fault: () => ({ kind: "stall" }) });
    const p = run(realClock);
    await waitFor(() => server.requests.length === 4);
    // Graceful stop only: requests in flight are not aborted and never answer.
    signals.stop.abort();
    signals.giveUp.abort();
    const r = await p;
    expect(r.abandoned).toBe(true);
    expect(r.stoppedBy).toBe("signal");
    expect(r.exitCode).toBe(5);
    // The 4 hung tasks are left running (requeued on the next start); the rest went back to pending.
    expect(ledger.counts().byState).toMatchObject({ running: 4, pending: 6, done: 0 });
    ledger.close();
  });

  it("a slow but moving run is never stopped: each settled task restarts the window", async () => {
    const gates: Record<number, () => void> = {};
    const opened = (n: number): Promise<void> => new Promise<void>((r) => (gates[n] = r));
    const { server, out, ledger, run, stallReports } = await setup(2, {
      fault: (n) => (n <= 2 ? { kind: "gate", open: opened(n) } : undefined),
    });
    const clock = new VirtualClock();
    const settled: string[] = [];
    const p = run(clock, {
      stallTimeoutMs: 10 * MIN,
      onEvent: (e) => {
        if (e.type === "task" && e.state === "done") settled.push(`${e.band}/${e.id}`);
      },
    });
    await waitFor(() => server.requests.length === 4 && settled.length === 2);
    await clock.advance(9 * MIN);
    gates[2]?.();
    await waitFor(() => settled.length === 3);
    // 18 virtual minutes since the start, 9 since the last task settled: not a stall.
    await clock.advance(9 * MIN);
    expect(stallReports).toEqual([]);
    gates[1]?.();
    const r = await p;
    expect(stallReports).toEqual([]);
    expect(r.exitCode).toBe(0);
    expect(r.counts.byState.done).toBe(4);
    expect(validateFits(readFileSync(join(out, "g", "t1.fits"))).ok).toBe(true);
    ledger.close();
  });
});
