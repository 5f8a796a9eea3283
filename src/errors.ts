/**
 * Exit codes: a published contract for cron jobs and SLURM scripts. Only src/cli/index.ts ends the process.
 */
export const ExitCode = {
  /** Every task settled: done or no coverage. */
  Ok: 0,
  /** Internal error (a bug): report it. */
  Internal: 1,
  /** Bad usage or configuration, including a resume with different job parameters. */
  Usage: 2,
  /** An input (catalog, ledger) could not be read. */
  Input: 3,
  /** Finished, but some tasks failed permanently (see `vocut status`, `vocut retry --permanent`). */
  PermanentFailures: 4,
  /** Stopped with retryable work left (server down, signal, time limit): run again later. */
  RetryLater: 5,
  /** The ledger is locked by another running process. */
  Locked: 6,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Human-readable lines for --help and the README; one place so they never drift apart. */
export const EXIT_CODE_HELP: ReadonlyArray<readonly [ExitCode, string]> = [
  [ExitCode.Ok, "all tasks settled (done or no coverage)"],
  [ExitCode.Internal, "internal error"],
  [ExitCode.Usage, "usage or configuration error (incl. resume with different job parameters)"],
  [ExitCode.Input, "unreadable input (catalog, ledger)"],
  [ExitCode.PermanentFailures, "finished with permanent failures"],
  [
    ExitCode.RetryLater,
    "stopped with retryable work left (server down, signal, --max-duration, --stall-timeout): run again later",
  ],
  [ExitCode.Locked, "ledger locked by another process"],
];

/**
 * A run-level error with a stable string `code` and the exit code it maps to.
 * Per-task failures never use this: they are recorded in the ledger.
 */
export class VocutError extends Error {
  readonly code: string;
  readonly exitCode: ExitCode;
  constructor(code: string, message: string, exitCode: ExitCode, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "VocutError";
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** Bad flags or configuration (exit 2). */
export const usageError = (code: string, message: string): VocutError =>
  new VocutError(code, message, ExitCode.Usage);

/** An input that cannot be read (exit 3). */
export const inputError = (code: string, message: string, cause?: unknown): VocutError =>
  new VocutError(code, message, ExitCode.Input, cause === undefined ? undefined : { cause });
