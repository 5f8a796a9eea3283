import type { Target } from "../catalog/types.js";
import { ExitCode } from "../errors.js";
import { realClock } from "../fetch/clock.js";
import { DEFAULTS } from "../fetch/defaults.js";
import { HostPacer } from "../fetch/host-pacer.js";
import { createHttpClient } from "../fetch/http-client.js";
import type { Ledger } from "../ledger/ledger.js";
import type { Store } from "../output/store.js";
import type { AtomicWriter } from "../output/write-atomic.js";
import type { JobSpec } from "../plan/job-spec.js";
import { type Coverage, loadCoverage } from "../sources/coverage.js";
import { isProducer, type Source } from "../sources/source.js";
import { userAgent } from "../version.js";
import { formatDuration } from "./format-duration.js";
import { runTasks } from "./run-job.js";
import type { RunReporter } from "./run-reporter.js";
import type { RunSettings } from "./run-settings.js";
import { type RunStop, STALL_EXIT_GRACE_MS } from "./run-stop.js";
import { SharedFetcher } from "./shared-fetch.js";

/** Interval of the progress heartbeat written to the ledger, in ms. */
const HEARTBEAT_MS = 5_000;

/**
 * Fetch a planned job: an HTTP client, a per-host pacer and a shared fetcher for it, the source
 * prepared, the task loop run with --max-duration and the watchdog wired to `halt`, a heartbeat in the
 * ledger, and the summary reported. Products go to `out.store`; shared downloads (tiles, images) are
 * cached as files by `out.writer`. Returns the exit code of the run.
 */
export async function fetchAll(
  ledger: Ledger,
  spec: JobSpec,
  source: Source,
  out: { readonly store: Store; readonly writer: AtomicWriter },
  outDir: string,
  run: RunSettings,
  reporter: RunReporter,
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
    maxBytes:
      run.maxBytes ?? ("defaultMaxBytes" in source ? source.defaultMaxBytes : undefined) ?? DEFAULTS.maxBytes,
    maxRedirects: DEFAULTS.maxRedirects,
    ...(run.credentials === undefined ? {} : { credentials: run.credentials }),
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
  const sharedFetcher = new SharedFetcher(ledger, client, pacer, realClock, out.writer, outDir, {
    retries: run.retries,
    backoffBaseMs: DEFAULTS.backoffBaseMs,
    backoffCapMs: DEFAULTS.backoffCapMs,
    cacheLimitBytes: run.cacheBytes,
  });
  try {
    let coverage: Coverage;
    try {
      if (isProducer(source)) {
        await source.prepare(sharedFetcher.get, halt.stop, {
          memoryBytes: run.tileCacheBytes,
          imageIndex: ledger.imageIndex(),
          info: (m) => reporter.info(m),
        });
      }
      coverage = await loadCoverage(spec.source, source.bands, sharedFetcher.get, halt.stop);
    } catch (err) {
      // A stop while the source reads its metadata or indexes images aborts that: not an error.
      if (!halt.stop.aborted) throw err;
      reporter.error("stopped while preparing the source: run the same command again (exit 5)");
      return ExitCode.RetryLater;
    }
    for (const n of coverage.notes) reporter.error(`warning: ${n}`, { code: "NOTE" });
    for (const [band, where] of coverage.sources)
      reporter.info(`band ${band}: coverage map ${where}; targets outside it are not asked`);
    // A job starting: which mode is cheaper (HiPS: tiles or hips2fits), from the planned targets.
    const modes =
      settledBefore === 0 && isProducer(source) ? source.modeComparison?.(run.ratePerSec) : undefined;
    if (modes !== undefined) {
      for (const t of ledger.iterateTasks()) {
        if (t.bandIndex === 0) modes.add({ id: t.id, row: t.targetRow, raDeg: t.raDeg, decDeg: t.decDeg });
      }
      for (const line of modes.lines()) reporter.info(line);
    }
    const result = await runTasks(ledger, source, client, pacer, out.store, realClock, {
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
      ...(coverage.any ? { coverage: (t: Target, b: string) => coverage.outside(t, b) } : {}),
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
