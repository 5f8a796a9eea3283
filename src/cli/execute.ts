import { dirname, resolve } from "node:path";
import { ExitCode, VocutError } from "../errors.js";
import { realClock } from "../fetch/clock.js";
import { DEFAULTS } from "../fetch/defaults.js";
import { HostPacer } from "../fetch/host-pacer.js";
import { createHttpClient } from "../fetch/http-client.js";
import { Ledger } from "../ledger/ledger.js";
import { AtomicWriter, TEMP_DIR_NAME } from "../output/write-atomic.js";
import { openJobInput } from "../plan/job-input.js";
import type { JobSpec } from "../plan/job-spec.js";
import { planIntoLedger } from "../plan/plan-job.js";
import { shardEvents, shardLabel } from "../plan/shard.js";
import { runTasks } from "../run/run-job.js";
import { SharedFetcher } from "../run/shared-fetch.js";
import { createSource } from "../sources/create-source.js";
import { isProducer } from "../sources/source.js";
import { userAgent } from "../version.js";
import { type RunConfig, shareOfRun } from "./config.js";
import { formatDuration, Reporter } from "./reporter.js";
import { RunStop, STALL_EXIT_GRACE_MS, untilStopped } from "./run-stop.js";

/** Interval of the progress heartbeat written to the ledger, in ms. */
const HEARTBEAT_MS = 5_000;

/** What `run`, `plan`, `fetch` and `retry` ask of a job. */
export interface ExecuteParams {
  /** Job spec from flags (run/plan), or undefined to take it from the ledger (fetch/retry). */
  readonly spec?: JobSpec;
  readonly ledgerFile: string;
  /** Output folder; for fetch/retry taken from the ledger when absent. */
  readonly outDir?: string;
  /** Plan from the catalog in spec before fetching. */
  readonly plan: boolean;
  /** Fetch after planning (false for `vocut plan`). */
  readonly fetch: boolean;
  readonly strict: boolean;
  /** Put failed tasks back in the queue first (`retry`). */
  readonly requeuePermanent?: boolean;
  readonly run: RunConfig;
}

/**
 * Open the ledger (locked), check or store the job, plan the catalog, run the task loop and report.
 * Returns the exit code; run-level failures are thrown as VocutError after the ledger is left consistent.
 */
export async function execute(p: ExecuteParams): Promise<ExitCode> {
  try {
    return await executeJob(p);
  } catch (err) {
    throw ledgerWriteError(err, resolve(p.ledgerFile));
  }
}

/**
 * SQLite's "disk full" and I/O errors while writing the ledger are run-level failures like a full output
 * disk (exit 5, run again once there is space), not internal errors. Other errors pass through.
 */
function ledgerWriteError(err: unknown, ledgerFile: string): unknown {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (err instanceof VocutError || typeof code !== "string") return err;
  const full = code === "SQLITE_FULL" || code === "ENOSPC" || code === "EDQUOT";
  if (!full && !code.startsWith("SQLITE_IOERR")) return err;
  const hint = full
    ? "the disk is full: free space and run the same command again"
    : "check the disk and run again";
  return new VocutError(
    "LEDGER_WRITE",
    `cannot write the ledger ${ledgerFile} (${code}): ${hint}; the ledger is intact`,
    ExitCode.RetryLater,
    { cause: err },
  );
}

async function executeJob(p: ExecuteParams): Promise<ExitCode> {
  const reporter = new Reporter({ quiet: p.run.quiet, json: p.run.json });
  // Signals are handled from the start (reading the catalog, planning, fetching): every state ends
  // with exit 5 and a consistent ledger.
  const halt = new RunStop((line) => reporter.error(line)).install();
  try {
    return await planAndFetch(p, reporter, halt);
  } finally {
    halt.dispose();
  }
}

async function planAndFetch(p: ExecuteParams, reporter: Reporter, halt: RunStop): Promise<ExitCode> {
  const ledgerFile = resolve(p.ledgerFile);
  let outDir = p.outDir === undefined ? undefined : resolve(p.outDir);
  // Open the catalog before the ledger: an unreadable catalog fails (exit 3) without creating a ledger.
  const catalog = p.plan && p.spec !== undefined ? await openJobInput(p.spec) : undefined;
  const writerRef: { w?: AtomicWriter } = {};
  const ledger = Ledger.open(ledgerFile, {
    create: p.spec !== undefined,
    beforeCommit: () => writerRef.w?.syncDirs(),
    journal: p.run.ledgerJournal,
  });
  try {
    const spec = p.spec ?? ledger.job<JobSpec>();
    if (spec === undefined) {
      throw new VocutError(
        "LEDGER_EMPTY",
        `ledger ${ledgerFile} has no job: plan one with \`vocut run\``,
        ExitCode.Input,
      );
    }
    if (p.spec !== undefined) ledger.checkJob(p.spec as unknown as Record<string, unknown>);
    const storedOut = ledger.getMeta<string>("out");
    outDir ??= storedOut ?? dirname(ledgerFile);
    if (storedOut === undefined) ledger.setMeta("out", outDir);
    const source = createSource(spec.source);
    // Shards share the output folder but not their temp files: each cleans only its own on start.
    const writer = new AtomicWriter(
      outDir,
      spec.shard === undefined ? {} : { tempName: `${TEMP_DIR_NAME}-${shardLabel(spec.shard)}` },
    );
    writerRef.w = writer;
    writer.prepare();

    const requeued = ledger.requeue({
      running: true,
      failedRetryable: true,
      failedPermanent: p.requeuePermanent === true,
    });
    if (requeued > 0) reporter.info(`requeued ${requeued} unfinished task(s) from an earlier run`);

    if (catalog !== undefined) {
      const t0 = Date.now();
      const all = spec.shard === undefined ? catalog.events : shardEvents(catalog.events, spec.shard);
      const events = untilStopped(all, halt.stop);
      const summary = await planIntoLedger(ledger, source, events, {
        strict: p.strict,
        onSkip: (s) => reporter.skip(s),
      });
      const notes = [...catalog.notes];
      ledger.setMeta("plan", { ...summary, at: Date.now(), ...(notes.length > 0 ? { notes } : {}) });
      for (const n of notes) reporter.error(`warning: ${n}`, { code: "NOTE" });
      reporter.event({ type: "plan", ...summary, ms: Date.now() - t0 });
      reporter.info(
        `planned ${summary.tasks} task(s) for ${summary.targets} target(s) x ${source.bands.length} band(s)` +
          (summary.newTargets < summary.targets
            ? ` (${summary.targets - summary.newTargets} already in the ledger)`
            : "") +
          (summary.skipped > 0 ? `; ${summary.skipped} catalog row(s) skipped` : ""),
      );
    }
    if (halt.stop.aborted) {
      // Planned so far is planned (INSERT OR IGNORE): the same command again plans the rest.
      reporter.error("stopped while planning: run the same command again to finish (exit 5)");
      return ExitCode.RetryLater;
    }
    if (!p.fetch) {
      const c = ledger.counts();
      reporter.info(`ledger ${ledgerFile}: ${c.total} task(s), ${c.byState.pending} pending`);
      return ExitCode.Ok;
    }
    if (spec.shard !== undefined) {
      const run = shareOfRun(p.run, spec.shard);
      reporter.info(
        `shard ${spec.shard.index}/${spec.shard.count}: ${run.ratePerSec.toPrecision(3)} req/s and ${run.concurrency} connection(s) per host (1/${spec.shard.count} of --rate ${p.run.ratePerSec})`,
      );
      return await fetchAll(ledger, spec, source, writer, outDir, run, reporter, halt);
    }
    return await fetchAll(ledger, spec, source, writer, outDir, p.run, reporter, halt);
  } catch (err) {
    reporter.stop();
    try {
      ledger.close();
    } catch {
      // A failed last commit (disk full) must not hide the error that stopped the run.
    }
    throw err;
  } finally {
    reporter.stop();
    writerRef.w?.close();
    ledger.close(); // closed already after an error; otherwise a failed last commit is thrown here
  }
}

async function fetchAll(
  ledger: Ledger,
  spec: JobSpec,
  source: ReturnType<typeof createSource>,
  writer: AtomicWriter,
  outDir: string,
  run: RunConfig,
  reporter: Reporter,
  halt: RunStop,
): Promise<ExitCode> {
  const before = ledger.counts();
  const settledBefore = before.total - before.byState.pending - before.byState.running;
  reporter.start(before.total, settledBefore);

  const durationTimer =
    run.maxDurationMs === undefined
      ? undefined
      : setTimeout(() => {
          reporter.info(`--max-duration reached: stopping`);
          halt.begin();
        }, run.maxDurationMs);
  const onStall = (idleMs: number, waitingFor: readonly string[]): void => {
    reporter.error(
      `stalled: nothing settled, failed or was retried for ${formatDuration(idleMs / 1000)} (--stall-timeout) ` +
        `while waiting for: ${waitingFor.join("; ")}. Aborting, keeping what is durable, exit 5`,
      { code: "STALLED" },
    );
    halt.abortNow(STALL_EXIT_GRACE_MS);
  };

  const client = createHttpClient({
    userAgent: userAgent(run.contact),
    timeoutMs: run.timeoutMs,
    maxBytes: run.maxBytes ?? (source.kind === "products" ? DEFAULTS.productMaxBytes : DEFAULTS.maxBytes),
    maxRedirects: DEFAULTS.maxRedirects,
  });
  const pacer = new HostPacer(
    {
      ...DEFAULTS.pacer,
      concurrency: run.concurrency,
      ratePerSec: run.ratePerSec,
      burst: run.burst,
      breakerFailures: run.breakerFailures,
      breakerPauseMs: run.breakerPauseMs,
      breakerMaxOpens: run.breakerMaxOpens,
    },
    realClock,
  );
  const heartbeat = setInterval(() => {
    const hosts = pacer.snapshot();
    // --json: what each host's controller does (rate, window, capacity, no-load latency, why slowed).
    for (const [host, st] of Object.entries(hosts)) reporter.event({ type: "host", host, ...st });
    try {
      ledger.recordProgress({
        pid: process.pid,
        ratePerSec: reporter.currentRate(),
        status: reporter.statusLine(),
        hosts,
      });
    } catch {
      // A missed progress note (disk full) is harmless: the next ledger commit reports the failure.
    }
  }, HEARTBEAT_MS);
  heartbeat.unref();
  const t0 = Date.now();
  const sharedFetcher = new SharedFetcher(ledger, client, pacer, realClock, writer, outDir, {
    retries: run.retries,
    backoffBaseMs: DEFAULTS.backoffBaseMs,
    backoffCapMs: DEFAULTS.backoffCapMs,
    cacheLimitBytes: run.cacheBytes,
  });
  try {
    if (isProducer(source)) {
      try {
        await source.prepare(sharedFetcher.get, halt.stop, {
          memoryBytes: run.tileCacheBytes,
          imageIndex: ledger.imageIndex(),
          info: (m) => reporter.info(m),
        });
      } catch (err) {
        // A stop while the source reads its metadata or indexes images aborts that: not an error.
        if (!halt.stop.aborted) throw err;
        reporter.error("stopped while preparing the source: run the same command again (exit 5)");
        return ExitCode.RetryLater;
      }
    }
    const result = await runTasks(ledger, source, client, pacer, writer, realClock, {
      shared: sharedFetcher.get,
      direct: sharedFetcher.direct,
      outDir,
      layout: spec.layout,
      retries: run.retries,
      backoffBaseMs: DEFAULTS.backoffBaseMs,
      backoffCapMs: DEFAULTS.backoffCapMs,
      maxInFlight: run.concurrency * 2 + 2,
      claimBatch: 256,
      onEvent: (e) => reporter.task(e),
      stopSignal: halt.stop,
      abortSignal: halt.hardAbort,
      giveUpSignal: halt.giveUp,
      ...(run.stallTimeoutMs === undefined ? {} : { stallTimeoutMs: run.stallTimeoutMs, onStall }),
    });
    reporter.stop();
    const s = result.counts.byState;
    const secs = (Date.now() - t0) / 1000;
    // "Left" is two different things: tasks never tried (a stop before dispatch) and tasks that failed
    // or were stopped between tries. Both are pending in the ledger; attempts and this run tell them apart.
    const retriedPending = ledger.pendingTried() + result.requeuedAfterAnswer;
    const toRetry = s.failed_retryable + retriedPending;
    const notTried = s.pending + s.running - retriedPending;
    const summary = {
      type: "summary",
      total: result.counts.total,
      ...s,
      notTried,
      toRetry,
      requests: result.requests + sharedFetcher.requests,
      seconds: secs,
      adopted: result.settled.adopted,
      skippedRows: ledger.getMeta<{ skipped: number }>("plan")?.skipped ?? 0,
      hostsDown: result.hostsDown,
      hosts: pacer.snapshot(),
      exitCode: result.exitCode,
    };
    ledger.recordProgress({
      pid: process.pid,
      finished: true,
      ratePerSec: reporter.currentRate(),
      hosts: pacer.snapshot(),
      exitCode: result.exitCode,
    });
    reporter.event(summary);
    reporter.info(
      `${s.done} done, ${s.no_coverage} no coverage, ${s.failed_permanent} failed permanently, ` +
        `${notTried} pending (not tried yet), ${toRetry} to retry; ${result.requests + sharedFetcher.requests} request(s) in ${formatDuration(secs)}` +
        (result.settled.adopted > 0 ? `; ${result.settled.adopted} file(s) found already on disk` : ""),
    );
    if (result.abandoned)
      reporter.error(
        "gave up waiting for work in flight (a request or a file sync that did not return): what was not " +
          "durable is not recorded and is asked again by the next run",
      );
    if (result.stoppedBy === "stall")
      reporter.error(
        "the run stalled and stopped: resubmit the same command (or `vocut fetch`) to resume (exit 5)",
      );
    else if (result.hostsDown.length > 0)
      reporter.error(
        `${result.hostsDown.join(", ")} kept failing: stopped; run the same command later (exit 5)`,
      );
    else if (result.exitCode === ExitCode.RetryLater)
      reporter.info("retryable work left: run the same command again later (exit 5)");
    else if (result.exitCode === ExitCode.PermanentFailures)
      reporter.info(
        "some tasks failed permanently: `vocut status` lists them, `vocut retry --permanent` retries them (exit 4)",
      );
    return result.exitCode;
  } finally {
    clearInterval(heartbeat);
    if (durationTimer !== undefined) clearTimeout(durationTimer);
    // undici's close waits for requests still out; after giving up, nothing more is waited for.
    const closing = client.close();
    if (halt.giveUp.aborted) closing.catch(() => {});
    else await closing;
  }
}
