import { describe, expect, it } from "vitest";
import { VirtualClock } from "../../src/fetch/clock.js";
import { DEFAULTS } from "../../src/fetch/defaults.js";
import { HostPacer, type PacerConfig } from "../../src/fetch/host-pacer.js";

const config: PacerConfig = { ...DEFAULTS.pacer, concurrency: 100, ratePerSec: 5, burst: 5 };

/** Schedule n instant requests to `host` and record the virtual time each one starts. */
async function startTimes(pacer: HostPacer, clock: VirtualClock, n: number, host = "h", untilMs = 60_000) {
  const starts: number[] = [];
  const all = Array.from({ length: n }, () =>
    pacer.schedule(host, async () => void starts.push(clock.now())),
  );
  await clock.advance(untilMs);
  await Promise.all(all);
  return starts;
}

describe("HostPacer schedules (virtual time, no sleeping)", () => {
  it("20 requests at rate 5/s burst 5: five at once, then one every 200 ms; hosts are independent", async () => {
    const clock = new VirtualClock();
    const pacer = new HostPacer(config, clock);
    const a = startTimes(pacer, clock, 20, "a");
    const b = startTimes(pacer, clock, 20, "b");
    const expected = [0, 0, 0, 0, 0, ...Array.from({ length: 15 }, (_, i) => (i + 1) * 200)];
    expect(await a).toEqual(expected);
    expect(await b).toEqual(expected);
  });

  it("concurrency is a separate knob from rate", async () => {
    const clock = new VirtualClock();
    const pacer = new HostPacer({ ...config, concurrency: 2, ratePerSec: 1000, burst: 1000 }, clock);
    let inFlight = 0;
    let max = 0;
    const starts: number[] = [];
    const job = () =>
      pacer.schedule("h", async () => {
        starts.push(clock.now());
        max = Math.max(max, ++inFlight);
        await clock.sleep(100);
        inFlight--;
      });
    const all = Array.from({ length: 6 }, job);
    await clock.advance(2_000);
    await Promise.all(all);
    expect(max).toBe(2);
    expect(starts).toEqual([0, 0, 100, 100, 200, 200]);
  });

  it("Retry-After 30 s holds the whole host: no request before t + 30 s, other hosts unaffected", async () => {
    const clock = new VirtualClock(5_000);
    const pacer = new HostPacer(config, clock);
    pacer.report("h", "throttled", 30_000);
    expect(pacer.hostState("h")).toMatchObject({ state: "paused", pausedUntil: 35_000, rate: 3.5 });
    expect(pacer.hostState("h").reason).toBe("retry-after");
    const other = startTimes(pacer, clock, 1, "other", 0);
    expect(await other).toEqual([5_000]);
    const starts = await startTimes(pacer, clock, 3);
    // One token when the pause ends, no burst; the rate grew back during the 30 s (recovery is timed
    // from the throttle, recoverMs = 2 s), so 5/s: 200 ms apart.
    expect(starts).toEqual([35_000, 35_200, 35_400]);
    expect(pacer.hostState("h").state).toBe("ok");
  });

  it("a Retry-After arriving while requests wait holds them too", async () => {
    const clock = new VirtualClock();
    const pacer = new HostPacer({ ...config, burst: 1, ratePerSec: 1 }, clock);
    const starts: number[] = [];
    const all = Array.from({ length: 3 }, () =>
      pacer.schedule("h", async () => void starts.push(clock.now())),
    );
    await clock.advance(500);
    pacer.report("h", "failure", 10_000); // at t=500, e.g. a 503 with Retry-After: 10
    await clock.advance(60_000);
    await Promise.all(all);
    expect(starts).toEqual([0, 10_500, 11_500]);
  });

  it("a Retry-After reported as the answer comes holds the next request, even when a token is ready", async () => {
    const clock = new VirtualClock();
    const pacer = new HostPacer({ ...config, concurrency: 1, ratePerSec: 5, burst: 1 }, clock);
    const starts: number[] = [];
    // The first request takes 500 ms: the next token is long ready when it ends.
    const first = pacer
      .schedule("h", async () => {
        starts.push(clock.now());
        await clock.sleep(500);
      })
      .then(() => pacer.report("h", "throttled", 60_000));
    const second = pacer.schedule("h", async () => void starts.push(clock.now()));
    await clock.advance(500);
    await first;
    expect(starts).toEqual([0]);
    await clock.advance(61_000);
    await second;
    expect(starts).toEqual([0, 60_500]);
  });

  it("a throttle sets the rate to 0.7 x the rate sent, then it grows back with time, not with successes", async () => {
    const clock = new VirtualClock();
    const pacer = new HostPacer({ ...config, breakerFailures: 1000 }, clock);
    pacer.report("h", "throttled");
    expect(pacer.hostState("h")).toMatchObject({ state: "slowed", rate: 3.5, reason: "throttled" });
    // Faults unrelated to load neither lower the rate nor stop its recovery.
    for (let i = 0; i < 50; i++) pacer.report("h", "failure");
    await clock.advance(1_000);
    const mid = pacer.hostState("h").rate;
    expect(mid).toBeGreaterThan(3.5);
    expect(mid).toBeLessThan(5);
    await clock.advance(1_000); // recoverMs = 2 s: back at the ceiling, never above it
    expect(pacer.hostState("h")).toMatchObject({ state: "ok", rate: 5 });
    expect(pacer.hostState("h").reason).toBeUndefined();
  });

  it("the floor never exceeds a configured rate below it", () => {
    const pacer = new HostPacer({ ...config, ratePerSec: 0.05, burst: 1 }, new VirtualClock());
    pacer.report("h", "throttled");
    expect(pacer.hostState("h").rate).toBe(0.05);
  });

  it("throttles from requests already in flight at a decrease count once (one decrease per round trip)", async () => {
    const clock = new VirtualClock();
    const pacer = new HostPacer({ ...config, concurrency: 4, breakerFailures: 1000 }, clock);
    // Four requests in flight together; all four come back 429.
    const all = Array.from({ length: 4 }, (_, i) =>
      pacer.schedule("h", async () => {
        await clock.sleep(100 + i);
        return i;
      }),
    );
    for (const p of all) void p.then(() => pacer.report("h", "throttled"));
    await clock.advance(103);
    await Promise.all(all);
    // One decrease (two would be 2.45), grown back by a hair in the 3 ms since.
    expect(pacer.hostState("h").rate).toBeCloseTo(3.5, 1);
    // A request sent after the decrease is a new event: it decreases again.
    const next = pacer.schedule("h", async () => 1);
    await clock.advance(200);
    await next;
    pacer.report("h", "throttled");
    expect(pacer.hostState("h").rate).toBeLessThan(3);
  });

  it("times each request on the injected clock and hands the latency to the controller", async () => {
    const clock = new VirtualClock();
    const pacer = new HostPacer({ ...config, concurrency: 4 }, clock);
    const p = pacer.schedule("h", async () => {
      await clock.sleep(80);
      return 1;
    });
    await clock.advance(80);
    await p;
    pacer.report("h", "success");
    expect(pacer.hostState("h")).toMatchObject({ minRttMs: 80, rttMs: 80, window: 4, inFlight: 0 });
    // The pacer delegates to the same HostController the simulator drives.
    expect(pacer.controller("h").state(clock.now())).toEqual(pacer.hostState("h"));
  });

  it("a slowed host loses burst in proportion", () => {
    const clock = new VirtualClock();
    const pacer = new HostPacer({ ...config, ratePerSec: 4, burst: 4, breakerFailures: 1000 }, clock);
    pacer.report("h", "throttled"); // 2.8/s, burst 2
    const c = pacer.controller("h");
    expect(c.startDelay(0)).toBe(0);
    c.start(0);
    expect(c.startDelay(0)).toBe(0);
    c.start(0);
    expect(c.startDelay(0)).toBeGreaterThan(0);
  });

  it("circuit breaker: opens after N consecutive failures, one probe after the pause, success closes", async () => {
    const clock = new VirtualClock();
    const pacer = new HostPacer({ ...config, breakerFailures: 3, breakerPauseMs: 10_000 }, clock);
    pacer.report("h", "failure");
    pacer.report("h", "success"); // not consecutive
    pacer.report("h", "failure");
    pacer.report("h", "failure");
    expect(pacer.hostState("h")).toMatchObject({ state: "ok", consecutiveFailures: 2, breaker: "closed" });
    pacer.report("h", "failure");
    expect(pacer.hostState("h")).toMatchObject({ state: "paused", pausedUntil: 10_000, breaker: "open" });
    // Late failures of requests sent before the pause do not re-open or extend it.
    pacer.report("h", "failure");
    expect(pacer.hostState("h")).toMatchObject({ pausedUntil: 10_000, consecutiveFailures: 4 });

    const starts: Array<[number, number]> = [];
    const all = Array.from({ length: 4 }, (_, i) =>
      pacer.schedule("h", async () => {
        starts.push([i, clock.now()]);
        await clock.sleep(1_500); // the probe takes 1.5 s; nothing else may start meanwhile
        return i;
      }),
    );
    void all[0]?.then(() => pacer.report("h", "success"));
    await clock.advance(10_000);
    expect(starts).toEqual([[0, 10_000]]);
    expect(pacer.hostState("h")).toMatchObject({ state: "paused", breaker: "half-open" });
    await clock.advance(20_000);
    await Promise.all(all);
    // Closed at 11 500: the three waiters go at the normal rate (the 200 ms token is long earned).
    expect(starts).toEqual([
      [0, 10_000],
      [1, 11_500],
      [2, 11_700],
      [3, 11_900],
    ]);
    expect(pacer.hostState("h")).toMatchObject({ state: "ok", consecutiveFailures: 0, breaker: "closed" });
  });

  it("circuit breaker: a failed probe re-opens at once; the host is down after M openings", async () => {
    const clock = new VirtualClock();
    const pacer = new HostPacer(
      { ...config, breakerFailures: 2, breakerPauseMs: 10_000, breakerMaxOpens: 3 },
      clock,
    );
    const probe = async (): Promise<number> => {
      const started = pacer.schedule("h", async () => clock.now());
      void started.then(() => pacer.report("h", "failure"));
      await clock.advance(30_000);
      return started;
    };
    pacer.report("h", "failure");
    pacer.report("h", "failure"); // open #1 at 0
    expect(await probe()).toBe(10_000); // the probe fails -> open #2 until 20 000
    expect(pacer.hostState("h")).toMatchObject({ breaker: "open" });
    expect(pacer.isHostDown("h")).toBe(false);
    expect(await probe()).toBe(30_000); // scheduled at 30 000, after the pause: fails -> open #3
    expect(pacer.isHostDown("h")).toBe(true);
    expect(pacer.hostState("h").state).toBe("down");
    // A success (e.g. a late answer) brings it back.
    pacer.report("h", "success");
    expect(pacer.isHostDown("h")).toBe(false);
  });

  it("a probe that nobody reports on is inconclusive: the next request probes", async () => {
    const clock = new VirtualClock();
    const pacer = new HostPacer({ ...config, breakerFailures: 1, breakerPauseMs: 1_000 }, clock);
    pacer.report("h", "failure");
    const first = pacer.schedule("h", async () => clock.now());
    await clock.advance(1_000);
    expect(await first).toBe(1_000);
    await clock.advance(0);
    expect(pacer.hostState("h").breaker).toBe("open");
    // No new pause: the next request is the probe, at the next token (rate 5/s).
    const second = pacer.schedule("h", async () => clock.now());
    await clock.advance(1_000);
    expect(await second).toBe(1_200);
  });

  it("gives the host up after hostDownAfterMs of pauses without a success", () => {
    const clock = new VirtualClock();
    const pacer = new HostPacer({ ...config, hostDownAfterMs: 60_000 }, clock);
    pacer.report("h", "throttled", 40_000);
    pacer.report("h", "throttled", 30_000); // overlaps: counts nothing extra
    expect(pacer.isHostDown("h")).toBe(false);
    pacer.report("h", "throttled", 60_000); // extends to 60 s in total
    expect(pacer.isHostDown("h")).toBe(true);
  });

  it("an abort before the start rejects at once and frees the place; after the start it does not interrupt", async () => {
    const clock = new VirtualClock();
    const pacer = new HostPacer({ ...config, concurrency: 1, ratePerSec: 1, burst: 1 }, clock);
    const ac = new AbortController();
    const first = pacer.schedule(
      "h",
      async () => {
        await clock.sleep(100);
        return "first";
      },
      ac.signal,
    );
    const queued = pacer.schedule("h", async () => "queued", ac.signal);
    const third = pacer.schedule("h", async () => clock.now());
    await clock.advance(10);
    ac.abort();
    await expect(queued).rejects.toMatchObject({ name: "AbortError" });
    await clock.advance(5_000);
    expect(await first).toBe("first");
    expect(await third).toBe(1_000);
    await expect(pacer.schedule("h", async () => 1, AbortSignal.abort())).rejects.toMatchObject({
      name: "AbortError",
    });
  });

  it("reports an unseen host as ok and validates its config", () => {
    const pacer = new HostPacer(config, new VirtualClock());
    expect(pacer.hostState("nowhere")).toEqual({
      state: "ok",
      rate: 5,
      window: 100,
      inFlight: 0,
      accepted: 1,
      consecutiveFailures: 0,
      breaker: "closed",
    });
    expect(pacer.snapshot()).toEqual({});
    expect(() => new HostPacer({ ...config, concurrency: 0 }, new VirtualClock())).toThrow(/concurrency/);
    expect(() => new HostPacer({ ...config, decreaseFactor: 2 }, new VirtualClock())).toThrow(
      /decreaseFactor/,
    );
  });
});
