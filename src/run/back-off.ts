import { backoffMs } from "../fetch/retry-policy.js";
import type { TaskRow } from "../ledger/ledger.js";
import type { Outcome } from "../sources/source.js";
import type { RunState } from "./run-state.js";

/**
 * Wait before another try of task `t`: full-jitter backoff, but never sooner than the server asked for.
 * Emits the "retry" event. Resolves false when the run was stopped during the wait.
 */
export async function backOff(
  run: RunState,
  t: TaskRow,
  band: string,
  attempt: number,
  outcome: Extract<Outcome, { kind: "retryable" }>,
  url: string | undefined,
): Promise<boolean> {
  const { opts } = run;
  const delayMs = Math.max(
    backoffMs(attempt, run.random, opts.backoffBaseMs, opts.backoffCapMs),
    outcome.retryAfterMs ?? 0,
  );
  run.settled.retry++;
  run.emit({
    type: "task",
    id: t.id,
    band,
    state: "retry",
    attempt,
    ...(url === undefined ? {} : { url }),
    code: outcome.code,
    message: outcome.message,
    delayMs,
    ...(outcome.status === undefined ? {} : { status: outcome.status }),
  });
  run.waits.backoff++;
  try {
    await run.clock.sleep(delayMs, run.stop);
    return true;
  } catch {
    return false;
  } finally {
    run.waits.backoff--;
  }
}
