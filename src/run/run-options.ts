import type { Target } from "../catalog/types.js";
import type { DirectGet, SharedGet } from "../sources/source.js";
import type { RunEvent } from "./run-event.js";

/** Settings of the task loop. */
export interface RunOptions {
  readonly outDir: string;
  readonly layout: string;
  /** Retries per task in this run, after the first attempt. */
  readonly retries: number;
  /** Backoff base and cap for per-task retries, in ms. */
  readonly backoffBaseMs: number;
  readonly backoffCapMs: number;
  /** Tasks in progress at once (HTTP slots are limited per host by the pacer). */
  readonly maxInFlight: number;
  /** Tasks paged out of the ledger at a time. */
  readonly claimBatch: number;
  readonly onEvent: (e: RunEvent) => void;
  /** Graceful stop: no new dispatch, waiting tasks go back to pending, in-flight requests settle. */
  readonly stopSignal: AbortSignal;
  /** Hard stop (second signal): in-flight requests are aborted too. */
  readonly abortSignal: AbortSignal;
  readonly random?: () => number;
  /** Shared-resource fetcher for producing sources (client-side HiPS). */
  readonly shared?: SharedGet;
  /** Paced single requests for producing sources (SODA cutouts). */
  readonly direct?: DirectGet;
  /**
   * Stop waiting for in-flight tasks and the final group sync, which may never return (a hung file
   * system): the loop ends at once with what is durable recorded. Tasks it leaves are still "running"
   * in the ledger, as after a kill: the next run requeues them (and adopts any file already in place).
   */
  readonly giveUpSignal?: AbortSignal;
  /** Watchdog: busy with no task settled, failed or retried and no shared fetch ended for this long, ms. */
  readonly stallTimeoutMs?: number;
  /** Called once when the watchdog fires, with what the run was waiting for (one line each). */
  readonly onStall?: (idleMs: number, waitingFor: readonly string[]) => void;
  /**
   * Coverage check before any request (the survey's MOC): a reason settles the task "no_coverage" at once,
   * undefined runs it.
   */
  readonly coverage?: (target: Target, band: string) => string | undefined;
}
