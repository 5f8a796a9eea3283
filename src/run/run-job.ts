import type { Target } from "../catalog/types.js";
import { ExitCode } from "../errors.js";
import type { Clock } from "../fetch/clock.js";
import type { HostPacer } from "../fetch/host-pacer.js";
import type { HttpClient } from "../fetch/http-client.js";
import type { Ledger, LedgerCounts, TaskRow } from "../ledger/ledger.js";
import type { Store } from "../output/store.js";
import { isProducer, type Source } from "../sources/source.js";
import { dispatch } from "./dispatcher.js";
import { runProducerTask } from "./producer-task.js";
import { runRequestTask } from "./request-task.js";
import type { TaskEventState } from "./run-event.js";
import type { RunOptions } from "./run-options.js";
import { RunState } from "./run-state.js";
import { settle } from "./settle.js";

/** Events of a run and their task states (defined in run-event.ts). */
export type { RunEvent, TaskEventState } from "./run-event.js";
/** Settings of the task loop (defined in run-options.ts). */
export type { RunOptions } from "./run-options.js";

/** Result of one run of the task loop. */
export interface RunResult {
  /** Tasks settled in this run, by outcome. */
  readonly settled: Readonly<Record<TaskEventState, number>>;
  /** HTTP requests sent in this run. */
  readonly requests: number;
  /**
   * Tasks given back to pending (stop, host down) after an answer in this run, with no attempt recorded
   * in the ledger: pending, yet work to retry rather than never tried.
   */
  readonly requeuedAfterAnswer: number;
  /** Why the loop ended early, if it did ("stall": the watchdog fired). */
  readonly stoppedBy?: "signal" | "host_down" | "stall";
  /** True when the loop gave up waiting (giveUpSignal) for work that was not finished. */
  readonly abandoned: boolean;
  readonly hostsDown: readonly string[];
  readonly counts: LedgerCounts;
  readonly exitCode: ExitCode;
}

/**
 * The task loop: pages pending tasks out of the ledger in plan order, runs each through the source and
 * the per-host pacer with retries, puts products in the store and records every outcome. Memory is
 * bounded by `maxInFlight + claimBatch` tasks whatever the catalog size. Run-level failures (disk full)
 * stop the loop and are thrown after in-flight work has settled and the ledger is flushed.
 */
export async function runTasks(
  ledger: Ledger,
  source: Source,
  client: HttpClient,
  pacer: HostPacer,
  store: Store,
  clock: Clock,
  opts: RunOptions,
): Promise<RunResult> {
  const run = new RunState(ledger, source, client, pacer, store, clock, opts);
  const abandoned = await dispatch(run, (t) => runTask(run, t));
  for (const h of run.hostsDown)
    run.emit({ type: "host", host: h, state: "down", message: `${h} keeps failing; stopped` });
  if (run.fatal !== undefined) throw run.fatal;

  const counts = ledger.counts();
  const s = counts.byState;
  const left = s.pending + s.running + s.failed_retryable;
  const exitCode =
    left > 0 ? ExitCode.RetryLater : s.failed_permanent > 0 ? ExitCode.PermanentFailures : ExitCode.Ok;
  const stoppedBy = run.stalled
    ? "stall"
    : run.hostsDown.size > 0
      ? "host_down"
      : opts.stopSignal.aborted
        ? "signal"
        : undefined;
  return {
    settled: run.settled,
    requests: run.requests,
    abandoned,
    requeuedAfterAnswer: run.requeuedAfterAnswer,
    hostsDown: [...run.hostsDown],
    counts,
    exitCode,
    ...(stoppedBy === undefined ? {} : { stoppedBy }),
  };
}

/** One task: its target as planned, run by the source's kind of task. */
async function runTask(run: RunState, t: TaskRow): Promise<void> {
  const band = run.source.bands[t.bandIndex];
  if (band === undefined) throw new Error(`internal: band index ${t.bandIndex} out of range`);
  const target: Target = {
    id: t.id,
    raDeg: t.raDeg ?? Number.NaN,
    decDeg: t.decDeg ?? Number.NaN,
    row: t.targetRow,
    ...(t.url === null
      ? {}
      : { product: t.format === null ? { url: t.url } : { url: t.url, format: t.format } }),
  };
  const outside = run.opts.coverage?.(target, band);
  if (outside !== undefined) {
    // Outside the survey's coverage map: nothing is asked.
    await settle(run, t, band, "", { kind: "no_coverage", message: outside }, 0, undefined, true);
    return;
  }
  const source = run.source;
  if (isProducer(source)) await runProducerTask(run, source, t, band, target);
  else await runRequestTask(run, source, t, band, target);
}
