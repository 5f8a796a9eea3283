import type { TaskRow } from "../ledger/ledger.js";
import { adoptLeftovers } from "./adoption.js";
import type { RunState } from "./run-state.js";
import { SlotWaiter } from "./slot-waiter.js";

/**
 * The dispatcher: adopts what a killed run left in the temp folder, then pages tasks out of the ledger
 * (`claimBatch` at a time) and starts each with `runTask`, at most `maxInFlight` at once, until the
 * queue is empty or the run stops. A task that throws is a run-level failure: it stops the run and is
 * requeued. Then it drains: in-flight tasks, the store and its group syncs, unless `giveUpSignal`
 * aborts first; claimed tasks never started go back to pending and the ledger is flushed. Resolves true
 * when it gave up waiting.
 */
export async function dispatch(run: RunState, runTask: (t: TaskRow) => Promise<void>): Promise<boolean> {
  const { ledger, opts, stop, inFlight } = run;
  // Wakes the dispatcher when a task ends or the run is stopped: waiting on the tasks alone, it would not
  // notice a stop while every task in flight hangs (a request that never answers, a group sync that never
  // returns) and never reach the bounded drain below.
  const slots = new SlotWaiter(stop);
  const giveUp = opts.giveUpSignal;
  const gaveUp = new Promise<"gave_up">((r) => {
    if (giveUp === undefined) return;
    if (giveUp.aborted) r("gave_up");
    else giveUp.addEventListener("abort", () => r("gave_up"), { once: true });
  });
  let abandoned = false;
  try {
    await adoptLeftovers(run);
    while (!stop.aborted) {
      if (run.buffer.length === 0) {
        run.buffer = ledger.claim(opts.claimBatch);
        if (run.buffer.length === 0) break;
      }
      while (inFlight.size >= opts.maxInFlight && !stop.aborted) await slots.wait();
      if (stop.aborted) break;
      const t = run.buffer.shift() as TaskRow;
      const p: Promise<void> = runTask(t)
        .catch((err: unknown) => run.failTask(t, err))
        .finally(() => {
          inFlight.delete(p);
          slots.notify();
        });
      inFlight.add(p);
    }
  } finally {
    const drained = (async () => {
      await Promise.allSettled([...inFlight]);
      await run.store.drain();
      await Promise.allSettled([...run.grouped]);
      return "drained" as const;
    })();
    // Bounded only when the caller gave a give-up signal: a sync that never returns must not keep a
    // stopping process alive. What is not durable by then is not recorded, which is safe.
    try {
      abandoned = (await Promise.race([drained, gaveUp])) === "gave_up";
    } finally {
      run.watchdog?.stop();
    }
    // Claimed but never started: back to pending.
    for (const t of run.buffer) ledger.complete(t.seq, { kind: "requeue" });
    ledger.flush();
  }
  return abandoned;
}
