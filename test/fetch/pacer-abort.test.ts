import { setImmediate as nextTurn } from "node:timers/promises";
import { expect, it } from "vitest";
import { abortError, type Clock } from "../../src/fetch/clock.js";
import { DEFAULTS } from "../../src/fetch/defaults.js";
import { HostPacer } from "../../src/fetch/host-pacer.js";

/**
 * HostPacer.schedule() promises: rejected with AbortError = `fn` never runs. A request sent after its
 * caller was told "not started" is asked for again by the next run (seen as a repeated request after
 * --max-duration on a loaded machine).
 */
it("a stop never starts a request whose caller was already told it did not start, even with tokens piled up", async () => {
  // A clock whose timers are late (a loaded machine): time moves on, the bucket's wake-up has not fired.
  let t = 0;
  const clock: Clock = {
    now: () => t,
    sleep: (_ms, signal) =>
      new Promise((_resolve, reject) =>
        signal?.addEventListener("abort", () => reject(abortError(signal)), { once: true }),
      ),
  };
  const pacer = new HostPacer({ ...DEFAULTS.pacer, concurrency: 10, ratePerSec: 1, burst: 1 }, clock);
  const stop = new AbortController();
  const started: string[] = [];
  const outcomes = ["a", "b", "c"].map((name) =>
    pacer
      .schedule("h", async () => void started.push(name), stop.signal)
      .then(
        () => "ran",
        (err: Error) => err.name,
      ),
  );
  await nextTurn(); // "a" took the only token; "b" and "c" wait for the next
  expect(started).toEqual(["a"]);
  t = 5_000; // tokens have accrued, but no wake-up has handed them out yet
  // Every waiter hears the abort; "b" leaving the queue must not hand a token to "c" that starts it.
  stop.abort();
  expect(await Promise.all(outcomes)).toEqual(["ran", "AbortError", "AbortError"]);
  await nextTurn();
  expect(started).toEqual(["a"]);
});
