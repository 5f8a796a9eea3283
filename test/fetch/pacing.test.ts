import { describe, expect, it } from "vitest";
import { VirtualClock } from "../../src/fetch/clock.js";
import { DEFAULTS } from "../../src/fetch/defaults.js";
import { HostPacer } from "../../src/fetch/host-pacer.js";
import { backoffMs, classifyStatus, parseRetryAfter } from "../../src/fetch/retry-policy.js";
import { TokenBucket } from "../../src/fetch/token-bucket.js";

const config = { ...DEFAULTS.pacer, concurrency: 100, ratePerSec: 5, burst: 5 };

/** Schedule n instant requests and record the virtual time each one starts. */
async function startTimes(
  pacer: HostPacer,
  clock: VirtualClock,
  n: number,
  host = "h",
  untilMs = 60_000,
): Promise<number[]> {
  const starts: number[] = [];
  const all = Array.from({ length: n }, () =>
    pacer.schedule(host, async () => void starts.push(clock.now())),
  );
  await clock.advance(untilMs);
  await Promise.all(all);
  return starts;
}

describe("token bucket and pacer schedules (virtual time, no sleeping)", () => {
  it("rate 5/s with burst 5: five at once, then one every 200 ms", async () => {
    const clock = new VirtualClock();
    const starts = await startTimes(new HostPacer(config, clock), clock, 12);
    expect(starts).toEqual([0, 0, 0, 0, 0, 200, 400, 600, 800, 1000, 1200, 1400]);
  });

  it("Retry-After holds the whole host: no request before t + 30 s", async () => {
    const clock = new VirtualClock();
    const pacer = new HostPacer(config, clock);
    pacer.report("h", "throttled", 30_000);
    const starts = await startTimes(pacer, clock, 3);
    expect(Math.min(...starts)).toBe(30_000);
    // throttling halved the rate: 2.5/s -> 400 ms apart after the (emptied) bucket
    expect(starts).toEqual([30_000, 30_400, 30_800]);
    expect(pacer.hostState("other").state).toBe("ok");
  });

  it("AIMD: halves on each throttle down to the floor, recovers additively on successes", () => {
    const clock = new VirtualClock();
    const pacer = new HostPacer({ ...config, breakerFailures: 1000 }, clock);
    for (let i = 0; i < 3; i++) pacer.report("h", "throttled");
    expect(pacer.hostState("h")).toMatchObject({ state: "slowed", rate: 0.625 });
    for (let i = 0; i < 20; i++) pacer.report("h", "throttled");
    expect(pacer.hostState("h").rate).toBe(DEFAULTS.pacer.minRatePerSec);
    for (let i = 0; i < 10 * 10; i++) pacer.report("h", "success");
    expect(pacer.hostState("h").rate).toBeCloseTo(DEFAULTS.pacer.minRatePerSec + 1.0, 9);
    for (let i = 0; i < 10 * 100; i++) pacer.report("h", "success");
    expect(pacer.hostState("h")).toMatchObject({ state: "ok", rate: 5 });
  });

  it("circuit breaker: opens after N failures, half-opens after the pause, closes on success, gives up after M opens", async () => {
    const clock = new VirtualClock();
    const pacer = new HostPacer(
      { ...config, breakerFailures: 3, breakerPauseMs: 10_000, breakerMaxOpens: 3 },
      clock,
    );
    pacer.report("h", "failure");
    pacer.report("h", "failure");
    expect(pacer.hostState("h").state).toBe("ok");
    pacer.report("h", "failure");
    expect(pacer.hostState("h")).toMatchObject({ state: "paused", pausedUntil: 10_000 });
    const starts = await startTimes(pacer, clock, 1, "h", 20_000);
    expect(starts).toEqual([10_000]);
    // half-open: one more failure re-opens at once
    pacer.report("h", "failure");
    expect(pacer.hostState("h")).toMatchObject({ state: "paused", pausedUntil: 30_000 });
    pacer.report("h", "success");
    expect(pacer.hostState("h").consecutiveFailures).toBe(0);
    for (let i = 0; i < 3 * 3; i++) pacer.report("h", "failure");
    expect(pacer.isHostDown("h")).toBe(true);
    expect(pacer.hostState("h").state).toBe("down");
  });

  it("an aborted waiter leaves the queue and does not block the next", async () => {
    const clock = new VirtualClock();
    const bucket = new TokenBucket(1, 1, clock);
    await bucket.take();
    const ac = new AbortController();
    const a = bucket.take(ac.signal);
    const b = bucket.take();
    ac.abort();
    await expect(a).rejects.toMatchObject({ name: "AbortError" });
    let bDone = -1;
    void b.then(() => {
      bDone = clock.now();
    });
    await clock.advance(5_000);
    expect(bDone).toBe(1000);
  });

  it("concurrency is a separate knob from rate", async () => {
    const clock = new VirtualClock();
    const pacer = new HostPacer({ ...config, concurrency: 2, ratePerSec: 1000, burst: 1000 }, clock);
    let inFlight = 0;
    let max = 0;
    const job = () =>
      pacer.schedule("h", async () => {
        inFlight++;
        max = Math.max(max, inFlight);
        await clock.sleep(100);
        inFlight--;
      });
    const all = Array.from({ length: 10 }, job);
    await clock.advance(2_000);
    await Promise.all(all);
    expect(max).toBe(2);
  });
});

describe("retry policy", () => {
  it("parses Retry-After as seconds or HTTP date, ignoring garbage and clamping the past", () => {
    const now = Date.parse("2026-11-25T10:00:00Z");
    expect(parseRetryAfter("120", now)).toBe(120_000);
    expect(parseRetryAfter(["7"], now)).toBe(7_000);
    expect(parseRetryAfter("Wed, 25 Nov 2026 10:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Wed, 25 Nov 2026 09:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter("-5", now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter("999999999", now)).toBe(DEFAULTS.maxRetryAfterMs);
  });

  it("full-jitter backoff stays within [0, min(cap, base*2^n))", () => {
    expect(backoffMs(0, () => 0.999999, 1000, 60_000)).toBe(999);
    expect(backoffMs(3, () => 0.5, 1000, 60_000)).toBe(4000);
    expect(backoffMs(20, () => 0.999999, 1000, 60_000)).toBe(59_999);
    expect(backoffMs(5, () => 0, 1000, 60_000)).toBe(0);
  });

  it("classifies statuses: 429/503 retryable, 400/404 permanent", () => {
    expect([200, 429, 503, 500, 599, 400, 404, 410, 422].map(classifyStatus)).toEqual([
      "ok",
      "retryable",
      "retryable",
      "retryable",
      "retryable",
      "permanent",
      "permanent",
      "permanent",
      "permanent",
    ]);
  });
});
