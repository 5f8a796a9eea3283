import { describe, expect, it } from "vitest";
import { VirtualClock } from "../../src/fetch/clock.js";
import { TokenBucket } from "../../src/fetch/token-bucket.js";

/** Call take() n times at once and record the virtual time each one is granted. */
async function grantTimes(
  bucket: TokenBucket,
  clock: VirtualClock,
  n: number,
  untilMs: number,
): Promise<number[]> {
  const times: number[] = [];
  const all = Array.from({ length: n }, () => bucket.take().then(() => times.push(clock.now())));
  await clock.advance(untilMs);
  await Promise.all(all);
  return times;
}

describe("TokenBucket (virtual time, no sleeping)", () => {
  it("20 takers at rate 5/s burst 5: five at once, then one every 200 ms", async () => {
    const clock = new VirtualClock();
    const times = await grantTimes(new TokenBucket(5, 5, clock), clock, 20, 10_000);
    expect(times).toEqual([
      0, 0, 0, 0, 0, 200, 400, 600, 800, 1000, 1200, 1400, 1600, 1800, 2000, 2200, 2400, 2600, 2800, 3000,
    ]);
  });

  it("a high rate is not capped at one token per clock tick (4 ms of tokens held at 10,000/s, burst 1)", async () => {
    const clock = new VirtualClock();
    const times = await grantTimes(new TokenBucket(10_000, 1, clock), clock, 100, 1_000);
    // 99 tokens after the first at 10/ms: the last goes at ~10 ms (it was 99 ms, one per 1 ms wake-up).
    expect(times.at(-1)).toBeGreaterThanOrEqual(9);
    expect(times.at(-1)).toBeLessThanOrEqual(11);
    // Never more than the rate allows since the start, plus the burst.
    for (const [i, t] of times.entries()) expect(i).toBeLessThanOrEqual(1 + t * 10 + 1e-9);
  });

  it("refills up to the burst while idle, and not beyond", async () => {
    const clock = new VirtualClock();
    const bucket = new TokenBucket(2, 3, clock);
    await grantTimes(bucket, clock, 3, 0);
    await clock.advance(60_000);
    const times = await grantTimes(bucket, clock, 5, 5_000);
    expect(times).toEqual([60_000, 60_000, 60_000, 60_500, 61_000]);
  });

  it("serves waiters first come, first served", async () => {
    const clock = new VirtualClock();
    const bucket = new TokenBucket(1, 1, clock);
    const order: number[] = [];
    const all = [0, 1, 2, 3].map((i) => bucket.take().then(() => order.push(i)));
    await clock.advance(10_000);
    await Promise.all(all);
    expect(order).toEqual([0, 1, 2, 3]);
  });

  it("re-times waiters at once when the rate changes", async () => {
    const clock = new VirtualClock();
    const bucket = new TokenBucket(0.1, 1, clock); // next token in 10 s
    await bucket.take();
    let at = -1;
    void bucket.take().then(() => {
      at = clock.now();
    });
    await clock.advance(1_000);
    bucket.setRate(10); // 0.1 token earned so far; 0.9 more at 10/s = 90 ms
    await clock.advance(1_000);
    expect(at).toBe(1_090);
    expect(bucket.ratePerSec).toBe(10);
  });

  it("blockUntil holds every taker, then gives one token and the normal rate (no burst)", async () => {
    const clock = new VirtualClock();
    const bucket = new TokenBucket(5, 5, clock);
    bucket.blockUntil(30_000);
    expect(bucket.blockedUntilMs).toBe(30_000);
    const times = await grantTimes(bucket, clock, 3, 60_000);
    expect(times).toEqual([30_000, 30_200, 30_400]);
  });

  it("an aborted waiter leaves the queue at once, even behind others, and does not delay the next", async () => {
    const clock = new VirtualClock();
    const bucket = new TokenBucket(1, 1, clock);
    await bucket.take();
    const granted: string[] = [];
    const ac = new AbortController();
    const a = bucket.take().then(() => granted.push(`a@${clock.now()}`));
    const b = bucket.take(ac.signal).then(() => granted.push(`b@${clock.now()}`));
    const c = bucket.take().then(() => granted.push(`c@${clock.now()}`));
    ac.abort();
    await expect(b).rejects.toMatchObject({ name: "AbortError" });
    expect(bucket.waiting).toBe(2);
    await clock.advance(5_000);
    await Promise.all([a, c]);
    expect(granted).toEqual(["a@1000", "c@2000"]);
    await expect(bucket.take(AbortSignal.abort())).rejects.toMatchObject({ name: "AbortError" });
  });

  it("rejects bad arguments with a TypeError naming them", () => {
    const clock = new VirtualClock();
    expect(() => new TokenBucket(0, 1, clock)).toThrow(/ratePerSec/);
    expect(() => new TokenBucket(1, 0.5, clock)).toThrow(/burst/);
    expect(() => new TokenBucket(1, 1, clock).setRate(Number.NaN)).toThrow(TypeError);
  });
});

describe("TokenBucket on the real clock", () => {
  it("leaves no timer behind when its last waiter gives up during a long pause (a stopping run exits at once)", async () => {
    const { realClock } = await import("../../src/fetch/clock.js");
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const before = timers();
    const bucket = new TokenBucket(5, 1, realClock);
    await bucket.take(); // the one stored token
    bucket.blockUntil(Date.now() + 3_600_000); // Retry-After: 3600
    const ac = new AbortController();
    const waiting = bucket.take(ac.signal);
    expect(timers()).toBe(before + 1);
    ac.abort();
    await expect(waiting).rejects.toThrow(/aborted/);
    expect(timers()).toBe(before);
  });
});
