import { describe, expect, it } from "vitest";
import { VirtualClock } from "../../src/fetch/clock.js";
import { Watchdog } from "../../src/run/watchdog.js";

const MIN = 60_000;

function watch(timeoutMs: number, busy: () => boolean = () => true) {
  const clock = new VirtualClock();
  const stalls: Array<{ at: number; idleMs: number }> = [];
  const dog = new Watchdog({
    timeoutMs,
    clock,
    busy,
    onStall: (idleMs) => stalls.push({ at: clock.now(), idleMs }),
  });
  return { clock, stalls, dog };
}

describe("Watchdog (simulated time)", () => {
  it("fires once, exactly timeoutMs after the last progress while busy", async () => {
    const { clock, stalls, dog } = watch(10 * MIN);
    await clock.advance(10 * MIN - 1);
    expect(stalls).toEqual([]);
    await clock.advance(1);
    expect(stalls).toEqual([{ at: 10 * MIN, idleMs: 10 * MIN }]);
    expect(dog.fired).toBe(true);
    // Once: it has said what it had to say and holds no timer.
    await clock.advance(60 * MIN);
    expect(stalls).toHaveLength(1);
    expect(clock.pendingTimers).toBe(0);
  });

  it("progress moves the deadline, and thousands of progress calls arm no timer of their own", async () => {
    const { clock, stalls, dog } = watch(10 * MIN);
    await clock.advance(4 * MIN);
    for (let i = 0; i < 5000; i++) dog.progress();
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(6 * MIN); // the original deadline: not a stall, the last progress was 6 min ago
    expect(stalls).toEqual([]);
    await clock.advance(4 * MIN - 1);
    expect(stalls).toEqual([]);
    await clock.advance(1);
    expect(stalls).toEqual([{ at: 14 * MIN, idleMs: 10 * MIN }]);
  });

  it("a steady trickle of progress never fires, however long the run", async () => {
    const { clock, stalls, dog } = watch(10 * MIN);
    for (let i = 0; i < 100; i++) {
      await clock.advance(9 * MIN);
      dog.progress();
    }
    expect(stalls).toEqual([]);
    dog.stop();
  });

  it("an idle spell (nothing queued, nothing in flight) is not a stall; busy again, it fires within timeoutMs", async () => {
    let busy = false;
    const { clock, stalls } = watch(10 * MIN, () => busy);
    await clock.advance(35 * MIN);
    expect(stalls).toEqual([]);
    busy = true;
    await clock.advance(10 * MIN);
    expect(stalls).toHaveLength(1);
    expect(stalls[0]?.idleMs).toBeLessThanOrEqual(10 * MIN);
  });

  it("stop() cancels its one timer: a finished run is not kept alive, and nothing fires later", async () => {
    const { clock, stalls, dog } = watch(10 * MIN);
    expect(clock.pendingTimers).toBe(1);
    dog.stop();
    dog.stop();
    await clock.advance(0);
    expect(clock.pendingTimers).toBe(0);
    await clock.advance(60 * MIN);
    expect(stalls).toEqual([]);
  });

  it("refuses a timeout that is not a finite number > 0", () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(
        () =>
          new Watchdog({ timeoutMs: bad, clock: new VirtualClock(), busy: () => true, onStall: () => {} }),
      ).toThrow(TypeError);
    }
  });
});
