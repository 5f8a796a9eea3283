import type { Target } from "../catalog/types.js";
import { VocutError } from "../errors.js";
import { classifyError } from "../fetch/retry-policy.js";
import type { TaskRow } from "../ledger/ledger.js";
import { FITS_EXT } from "../plan/layout.js";
import type { Outcome, ProducerSource } from "../sources/source.js";
import { adoptExisting } from "./adoption.js";
import { backOff } from "./back-off.js";
import { diskError, WRITE_ERRORS } from "./disk-error.js";
import type { RunState } from "./run-state.js";
import { settle } from "./settle.js";

/**
 * One task of a computed product (client-side HiPS, SIA): adopts a file a killed run left in place,
 * then produces. The source fetches what it needs through the shared fetcher, which already retries
 * each resource, so a thrown fetch failure is final for this run. A "retryable" outcome (a SODA service
 * said ServiceUnavailable) is tried again with backoff. Throws run-level failures (a VocutError, a full
 * disk).
 */
export async function runProducerTask(
  run: RunState,
  producer: ProducerSource,
  t: TaskRow,
  band: string,
  target: Target,
): Promise<void> {
  const ext = producer.extension?.(band) ?? FITS_EXT;
  const path = run.pathFor(t, band, ext);
  // Only a task a killed process left running can have its file in place already; checking every
  // task would cost a failed open per cutout.
  if (t.interrupted === 1 && (await adoptExisting(run, t, band, path, ext))) return;
  for (let attempt = 0; ; attempt++) {
    const r = await produceOnce(run, producer, t, band, target, attempt);
    if (r === undefined) return; // requeued
    const { outcome } = r;
    // A thrown fetch failure was retried by the shared fetcher already: final for this run.
    const final = attempt >= run.opts.retries || outcome.kind !== "retryable" || r.thrown;
    if ((await settle(run, t, band, path, outcome, attempt, undefined, final)) === "settled") return;
    if (outcome.kind !== "retryable") return;
    if (!(await backOff(run, t, band, attempt, outcome, undefined))) {
      run.giveBack(t, true);
      return;
    }
  }
}

/** One produce() call; undefined when the task was given back (stopping, host down). */
async function produceOnce(
  run: RunState,
  producer: ProducerSource,
  t: TaskRow,
  band: string,
  target: Target,
  attempt: number,
): Promise<{ outcome: Outcome; thrown: boolean } | undefined> {
  const { shared, direct } = run;
  if (run.stop.aborted || shared === undefined || direct === undefined) {
    run.giveBack(t, attempt > 0);
    return undefined;
  }
  run.waits.producing++;
  try {
    return { outcome: await producer.produce(target, band, shared, run.stop, direct), thrown: false };
  } catch (err) {
    // Run-level failures stop the run (the dispatcher requeues the task): a VocutError, or a local
    // write failing (tile cache on a full disk) - recorded per task it would fail every task.
    if (err instanceof VocutError) throw err;
    if (WRITE_ERRORS.has((err as NodeJS.ErrnoException).code ?? "")) throw diskError(err, run.opts.outDir);
    if (run.stop.aborted || run.opts.abortSignal.aborted) {
      run.giveBack(t, attempt > 0);
      return undefined;
    }
    const down = Object.entries(run.pacer.snapshot()).filter(([, st]) => st.state === "down");
    if (down.length > 0) {
      run.hostsFailed(
        down.map(([h]) => h),
        t,
        attempt > 0,
      );
      return undefined;
    }
    const c = classifyError(err);
    const message = (err as Error).message;
    const outcome: Outcome = c.retryable
      ? { kind: "retryable", code: c.code, message }
      : { kind: "permanent", code: c.code, message };
    return { outcome, thrown: true };
  } finally {
    run.waits.producing--;
  }
}
