import { describe, expect, it } from "vitest";
import { RATE_WINDOW_MS, RecentRate } from "../../src/cli/recent-rate.js";
import { formatDuration, Reporter } from "../../src/cli/reporter.js";

/** Completions as grouped durable writes deliver them: `perGroup` recorded in the same ms every `everyMs`. */
function bursts(
  r: { record(t: number, n: number): void },
  from: { t: number; n: number },
  until: number,
  perGroup: number,
  everyMs: number,
) {
  let { t, n } = from;
  while (t + everyMs <= until) {
    t += everyMs;
    for (let i = 0; i < perGroup; i++) r.record(t, ++n);
  }
  return { t, n };
}

describe("RecentRate (simulated time)", () => {
  it("groups of completions in one millisecond give the rate they came at, not an infinite one (ETA was 0s)", () => {
    const r = new RecentRate();
    r.start(0, 0);
    // 37.6 tasks per 200 ms group = 188/s, as in the issue; stop at 1,033 done.
    let n = 0;
    let t = 0;
    while (n < 1033) {
      t += 200;
      const target = Math.min(1033, Math.round((t / 1000) * 188));
      while (n < target) r.record(t, ++n);
    }
    expect(r.rate(t)).toBeCloseTo(188, -1);
    const eta = r.etaSeconds(t, 5000 - 1033) as number;
    expect(eta).toBeGreaterThan(20);
    expect(eta).toBeLessThan(22);
  });

  it("has no rate during the first second, and none after a stall as long as its window", () => {
    const r = new RecentRate();
    r.start(1_000_000, 500);
    r.record(1_000_400, 520);
    expect(r.rate(1_000_500)).toBeUndefined();
    expect(r.etaSeconds(1_000_500, 100)).toBeUndefined();
    const end = bursts(r, { t: 1_000_400, n: 520 }, 1_010_400, 10, 100);
    expect(r.rate(end.t)).toBeCloseTo((end.n - 500) / 10.4 / 1, 0);
    // Nothing more: the rate sinks as the stall goes on, and is gone once the window holds no progress.
    const mid = r.rate(end.t + 10_000) as number;
    expect(mid).toBeLessThan(r.rate(end.t) as number);
    expect(r.rate(end.t + RATE_WINDOW_MS + 1)).toBe(0);
    expect(r.etaSeconds(end.t + RATE_WINDOW_MS + 1, 100)).toBeUndefined();
    expect(r.etaSeconds(end.t, 0)).toBe(0);
  });

  it("follows a change of pace within its window", () => {
    const r = new RecentRate();
    r.start(0, 0);
    const fast = bursts(r, { t: 0, n: 0 }, 60_000, 20, 200); // 100/s
    expect(r.rate(fast.t)).toBeCloseTo(100, 0);
    const slow = bursts(r, fast, 120_000, 2, 200); // 10/s
    expect(r.rate(slow.t)).toBeCloseTo(10, 0);
  });

  it("keeps bounded memory at thousands of completions per second", () => {
    const r = new RecentRate();
    r.start(0, 0);
    bursts(r, { t: 0, n: 0 }, 600_000, 5, 1); // 5,000/s for 10 minutes
    const kept = (r as unknown as { samples: unknown[] }).samples.length;
    expect(kept).toBeLessThanOrEqual(RATE_WINDOW_MS / 250 + 2);
  });
});

describe("Reporter status line (simulated time)", () => {
  it("reads the issue's case (1,033/5,000 at ~188/s, in groups) with a real ETA", () => {
    let now = 0;
    const rep = new Reporter({ quiet: true, json: false, now: () => now });
    rep.start(5000, 0);
    let n = 0;
    while (n < 1033) {
      now += 200;
      const target = Math.min(1033, Math.round((now / 1000) * 188));
      while (n < target) {
        rep.task({ type: "task", id: `t${n}`, band: "g", state: "done", attempt: 0 });
        n++;
      }
    }
    // 1,033 in 5.6 s: 184.5/s, 3,967 left.
    const rate = 1033 / (now / 1000);
    expect(rep.statusLine()).toBe(
      `1033/5000 settled, ${rate.toFixed(1)}/s, 0 failed, ETA ${formatDuration(3967 / rate)}`,
    );
    expect(formatDuration(3967 / rate)).toBe("22s");
    rep.stop();
  });
});
