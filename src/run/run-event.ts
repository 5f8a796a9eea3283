/** Settled state of one task as reported in events. */
export type TaskEventState =
  | "done"
  | "adopted"
  | "no_coverage"
  | "failed_retryable"
  | "failed_permanent"
  | "retry";

/** Events a run emits (NDJSON with --json, progress bar otherwise). */
export type RunEvent =
  | {
      readonly type: "task";
      readonly id: string;
      readonly band: string;
      readonly state: TaskEventState;
      readonly attempt: number;
      readonly url?: string;
      readonly status?: number;
      readonly code?: string;
      readonly message?: string;
      readonly delayMs?: number;
      readonly path?: string;
    }
  | { readonly type: "host"; readonly host: string; readonly state: string; readonly message: string };
