import { describe, expect, it } from "vitest";
import { realClock, VirtualClock } from "../../src/fetch/clock.js";

describe("VirtualClock", () => {
  it("fires timers in time order (ties in the order they were set) only when advanced", async () => {
    const clock = new VirtualClock(1000);
    const fired: string[] = [];
    void clock.sleep(300).then(() => fired.push(`b@${clock.now()}`));
    void clock.sleep(100).then(() => fired.push(`a@${clock.now()}`));
    void clock.sleep(300).then(() => fired.push(`c@${clock.now()}`));
    await clock.advance(99);
    expect(fired).toEqual([]);
    await clock.advance(1000);
    expect(fired).toEqual(["a@1100", "b@1300", "c@1300"]);
    expect(clock.now()).toBe(2099);
    expect(clock.pendingTimers).toBe(0);
  });

  it("lets a chain of sleeps run within one advance", async () => {
    const clock = new VirtualClock();
    const seen: number[] = [];
    void (async () => {
      for (let i = 0; i < 3; i++) {
        await clock.sleep(250);
        seen.push(clock.now());
      }
    })();
    await clock.advance(1000);
    expect(seen).toEqual([250, 500, 750]);
  });

  it("rejects an aborted sleep with AbortError and drops its timer", async () => {
    const clock = new VirtualClock();
    const ac = new AbortController();
    const p = clock.sleep(100, ac.signal);
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: "AbortError" });
    expect(clock.pendingTimers).toBe(0);
    await expect(clock.sleep(1, AbortSignal.abort())).rejects.toMatchObject({ name: "AbortError" });
  });
});

describe("realClock", () => {
  it("sleeps and aborts", async () => {
    await realClock.sleep(1);
    const ac = new AbortController();
    const p = realClock.sleep(10_000, ac.signal);
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: "AbortError" });
  });
});
