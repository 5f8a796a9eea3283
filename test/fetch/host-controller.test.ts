import { describe, expect, it } from "vitest";
import { DEFAULTS } from "../../src/fetch/defaults.js";
import { HostController } from "../../src/fetch/host-controller.js";
import type { PacerConfig } from "../../src/fetch/pacer-config.js";

const cfg = (ratePerSec: number, concurrency: number): PacerConfig => ({
  ...DEFAULTS.pacer,
  ratePerSec,
  concurrency,
  burst: 1,
  breakerFailures: 1_000,
});

/** Start requests as the controller allows for `ms`, each answered after `rttMs(inFlight)`; returns sends. */
function drive(
  c: HostController,
  fromMs: number,
  ms: number,
  rttMs: (inFlight: number) => number,
  event: () => "success" | "throttled" | "failure" = () => "success",
): number {
  let now = fromMs;
  const ends: Array<{ at: number; t: ReturnType<HostController["start"]> }> = [];
  let sent = 0;
  while (now < fromMs + ms) {
    ends.sort((a, b) => a.at - b.at);
    while (ends.length > 0 && (ends[0]?.at ?? 0) <= now) {
      const e = ends.shift() as { at: number; t: ReturnType<HostController["start"]> };
      c.finish(e.t, e.at);
      c.report(e.at, event(), undefined, { ...e.t, endMs: e.at });
    }
    while (c.startDelay(now) === 0) {
      const t = c.start(now);
      sent++;
      ends.push({ at: now + rttMs(c.inFlight), t });
    }
    now += 1;
  }
  // Let the requests still in flight end, so the next drive starts from an idle host.
  for (const e of ends.sort((a, b) => a.at - b.at)) {
    c.finish(e.t, e.at);
    c.report(e.at, event(), undefined, { ...e.t, endMs: e.at });
  }
  return sent;
}

describe("HostController (synchronous, simulated time)", () => {
  it("decreases once per round trip from the measured send rate, beta = 0.7", () => {
    const c = new HostController(cfg(100, 4), 0);
    drive(c, 0, 2_000, () => 20);
    expect(c.ratePerSec).toBe(100);
    // Three requests in flight come back 429: one decrease.
    const ts = [c.start(2_000), c.start(2_001), c.start(2_002)];
    for (const t of ts) c.finish(t, 2_030);
    for (const t of ts) c.report(2_030, "throttled", undefined, { ...t, endMs: 2_030 });
    expect(c.ratePerSec).toBeGreaterThan(60);
    expect(c.ratePerSec).toBeLessThanOrEqual(70);
  });

  it("recovers along a cubic of the time since the throttle: back in recoverMs, then probes above (capped at --rate)", () => {
    const c = new HostController(cfg(1_000, 8), 0);
    drive(c, 0, 1_000, () => 10); // sends 1000/s... window-bound at 8/10 ms = 800/s
    c.report(1_000, "throttled");
    const wMax = c.state(1_000).capacity as number;
    expect(c.ratePerSec).toBeCloseTo(0.7 * wMax, 6);
    c.tick(2_000);
    const half = c.ratePerSec;
    expect(half).toBeGreaterThan(0.95 * wMax); // concave: most of the way after half of K
    c.tick(3_000);
    expect(c.ratePerSec).toBeCloseTo(wMax, 6);
    c.tick(13_000); // probeMs after K: 10% above
    expect(c.ratePerSec).toBeCloseTo(Math.min(1_000, 1.1 * wMax), 6);
    c.tick(60_000);
    expect(c.ratePerSec).toBe(1_000);
  });

  it("faults and timeouts do not lower the rate; only 429/503 do", () => {
    const c = new HostController(cfg(50, 4), 0);
    for (let i = 0; i < 100; i++) c.report(i * 10, i % 2 === 0 ? "failure" : "timeout");
    expect(c.ratePerSec).toBe(50);
    expect(c.state(1_000).reason).toBeUndefined();
  });

  it("Retry-After holds the whole host exactly, then one token (no burst)", () => {
    const c = new HostController({ ...cfg(10, 4), burst: 4 }, 0);
    c.report(0, "success", 1_500);
    expect(c.startDelay(0)).toBe(1_500);
    expect(c.startDelay(1_499)).toBe(1);
    expect(c.startDelay(1_500)).toBe(0);
    c.start(1_500);
    expect(c.startDelay(1_500)).toBe(100);
    expect(c.state(1_000).reason).toBe("retry-after");
  });

  it("a queueing server: the window shrinks to the knee when latency rises, and stays within [1, --concurrency]", () => {
    const c = new HostController(cfg(1_000, 16), 0);
    // 4 workers x 50 ms: a request waits (inFlight - 4) / 4 service times beyond the 4th.
    drive(c, 0, 10_000, (n) => 50 + Math.max(0, n - 4) * 12.5);
    const s = c.state(10_000);
    expect(s.window).toBeGreaterThanOrEqual(4);
    expect(s.window).toBeLessThanOrEqual(6);
    expect(s.minRttMs).toBe(50);
    expect(s.reason).toBe("queueing");
    expect(s.capacity).toBeGreaterThan(60);
    expect(s.capacity).toBeLessThan(100);
  });

  it("a server whose latency does not rise keeps the whole window (rate-bound: Little's law)", () => {
    const c = new HostController(cfg(120, 8), 0);
    drive(c, 0, 10_000, () => 50);
    expect(c.window).toBe(8);
    expect(c.state(10_000).state).toBe("ok");
  });

  it("re-measures the no-load latency: a server that got slower for good is not seen as queueing for ever", () => {
    const c = new HostController(cfg(1_000, 8), 0);
    drive(c, 0, 5_000, () => 20);
    expect(c.state(5_000).minRttMs).toBe(20);
    drive(c, 5_100, 60_000, () => 60); // the service itself now takes 60 ms, at any load
    expect(c.state(65_200).minRttMs).toBe(60);
    expect(c.window).toBeGreaterThanOrEqual(7);
  });

  it("validates its settings", () => {
    expect(() => new HostController({ ...cfg(1, 1), recoverMs: 0 }, 0)).toThrow(/recoverMs/);
    expect(() => new HostController({ ...cfg(1, 1), queueHigh: 0.5 }, 0)).toThrow(/queueHigh/);
    expect(() => new HostController({ ...cfg(0, 1) }, 0)).toThrow(/ratePerSec/);
  });
});
