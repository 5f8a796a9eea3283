import { describe, expect, it } from "vitest";
import { scenarios } from "../../src/fetch/sim/scenarios.js";
import { recoverySeconds, simulate } from "../../src/fetch/sim/simulate.js";

/**
 * The "Done when" bounds, checked in simulated time on the controller the CLI runs (the
 * simulator drives HostController itself). Deterministic: seeded, no wall clock.
 */
const all = scenarios(0.02);
const byTold = (name: string, told: string) => {
  const s = all.find((x) => x.name.startsWith(name) && x.told === told);
  if (s === undefined) throw new Error(`no scenario ${name} ${told}`);
  return s;
};

describe("controller in the simulator", () => {
  it("token bucket 40/s with 13% faults, told the true rate: >= 85% of it, <= 3% 429s", () => {
    const s = byTold("token bucket", "--rate 40 --concurrency 8");
    const r = simulate(s.server(), s.client);
    expect(r.capacityUsed).toBeGreaterThanOrEqual(0.85);
    expect(r.throttledFraction).toBeLessThanOrEqual(0.03);
  });

  it("the same told 3x its rate: >= 80% of it, <= 10% 429s, no 10 s window under 25%", () => {
    const s = byTold("token bucket", "--rate 120 --concurrency 8");
    const r = simulate(s.server(), s.client);
    expect(r.capacityUsed).toBeGreaterThanOrEqual(0.8);
    expect(r.throttledFraction).toBeLessThanOrEqual(0.1);
    expect(r.worst10s).toBeGreaterThanOrEqual(0.25);
  });

  it("a queueing server of 80/s told --rate 200 --concurrency 16: >= 85% of capacity, median queue wait <= half a service time", () => {
    const s = byTold("queueing", "--rate 200 --concurrency 16");
    const r = simulate(s.server(), s.client);
    expect(r.capacityUsed).toBeGreaterThanOrEqual(0.85);
    expect(r.queueP50Ms).toBeLessThanOrEqual(25);
  });

  it("the fault mix finishes 500 tasks in one run within 3x its Retry-After pauses", () => {
    const s = byTold("fault mix", "--rate 1000 --concurrency 4");
    const r = simulate(s.server(), s.client);
    expect(r.tasksDone).toBe(500);
    expect(r.elapsedMs).toBeLessThanOrEqual(3 * r.retryAfterPauseMs);
  });

  it("recovers within a breaker pause and a minute after a two-hour outage", () => {
    const s = byTold("2 h outage", "--rate 200 --concurrency 16");
    const r = simulate(s.server(), s.client);
    expect(recoverySeconds(r, s.recoverFromMs as number)).toBeLessThanOrEqual(120);
  });

  it("is deterministic: the same seed gives the same run", () => {
    const s = byTold("fault mix", "--rate 1000 --concurrency 4");
    const a = simulate(s.server(), s.client);
    const b = simulate(s.server(), s.client);
    expect({ ...a, acceptedPerSec: [], capacityPerSec: [] }).toEqual({
      ...b,
      acceptedPerSec: [],
      capacityPerSec: [],
    });
  });
});
