import type { SkippedRow } from "../plan/plan-job.js";
import type { RunEvent } from "./run-event.js";

/**
 * What a job tells its user while it runs (the CLI's Reporter implements it): machine events, human
 * lines, errors, and the progress of the task loop.
 */
export interface RunReporter {
  /** A machine-readable event (the plan, host states, the summary). */
  event(obj: Record<string, unknown>): void;
  /** A human line (progress notes, the summary). */
  info(line: string): void;
  /** An error or warning, with fields for its event. */
  error(line: string, extra?: Record<string, unknown>): void;
  /** A catalog row skipped while planning. */
  skip(s: SkippedRow): void;
  /** The task loop begins: `total` tasks of which `settled` are already settled. */
  start(total: number, settled: number): void;
  /** An event of the task loop. */
  task(e: RunEvent): void;
  /** Tasks settled per second lately (for the ledger heartbeat). */
  currentRate(): number;
  /** One line on the run's progress (for the ledger heartbeat). */
  statusLine(): string;
  /** The progress display ends (idempotent). */
  stop(): void;
}
