import { afterEach, describe, expect, it, vi } from "vitest";
import {
  RunStop,
  SECOND_SIGNAL_EXIT_MS,
  SIGTERM_ECHO_MS,
  STALL_EXIT_GRACE_MS,
  STOP_EXIT_GRACE_MS,
  STOP_REQUEST_GRACE_MS,
  untilStopped,
} from "../../src/run/run-stop.js";

const steps = (r: RunStop): string =>
  [r.stop.aborted ? "stop" : "", r.hardAbort.aborted ? "abort" : "", r.giveUp.aborted ? "giveUp" : ""]
    .filter((x) => x !== "")
    .join(",");

describe("RunStop: the schedule of a bounded stop (fake timers)", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("first signal: stop now, abort requests after the request grace, stop waiting after the exit grace", () => {
    vi.useFakeTimers();
    const said: string[] = [];
    const r = new RunStop((l) => said.push(l));
    r.signal("SIGTERM");
    expect(steps(r)).toBe("stop");
    expect(said).toEqual([expect.stringMatching(/^SIGTERM: finishing requests in flight \(up to 5 s\)/)]);
    vi.advanceTimersByTime(STOP_REQUEST_GRACE_MS - 1);
    expect(steps(r)).toBe("stop");
    vi.advanceTimersByTime(1);
    expect(steps(r)).toBe("stop,abort");
    vi.advanceTimersByTime(STOP_EXIT_GRACE_MS - STOP_REQUEST_GRACE_MS - 1);
    expect(steps(r)).toBe("stop,abort");
    vi.advanceTimersByTime(1);
    expect(steps(r)).toBe("stop,abort,giveUp");
    r.dispose();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("second signal aborts at once and shortens the wait; a third stops waiting at once", () => {
    vi.useFakeTimers();
    const said: string[] = [];
    const r = new RunStop((l) => said.push(l));
    r.signal("SIGINT");
    r.signal("SIGTERM");
    expect(steps(r)).toBe("stop,abort");
    expect(said[1]).toBe("SIGTERM: aborting requests in flight");
    vi.advanceTimersByTime(SECOND_SIGNAL_EXIT_MS);
    expect(steps(r)).toBe("stop,abort,giveUp");

    const r3 = new RunStop(() => {});
    r3.signal("SIGTERM");
    vi.advanceTimersByTime(SIGTERM_ECHO_MS);
    r3.signal("SIGTERM");
    r3.signal("SIGTERM");
    expect(steps(r3)).toBe("stop,abort,giveUp");
    r.dispose();
    r3.dispose();
  });

  it("a SIGTERM within SIGTERM_ECHO_MS of the first is an echo (scancel + the batch script), not an abort", () => {
    vi.useFakeTimers();
    const said: string[] = [];
    const r = new RunStop((l) => said.push(l));
    r.signal("SIGTERM");
    vi.advanceTimersByTime(SIGTERM_ECHO_MS - 1);
    r.signal("SIGTERM");
    expect(steps(r)).toBe("stop");
    expect(said[1]).toMatch(/^SIGTERM again within 2 s: the same stop/);
    vi.advanceTimersByTime(1);
    r.signal("SIGTERM");
    expect(steps(r)).toBe("stop,abort");
    r.dispose();
  });

  it("the watchdog's stop aborts at once and bounds the flush; dispose cancels every deadline", () => {
    vi.useFakeTimers();
    const r = new RunStop(() => {});
    r.abortNow(STALL_EXIT_GRACE_MS);
    expect(steps(r)).toBe("stop,abort");
    vi.advanceTimersByTime(STALL_EXIT_GRACE_MS);
    expect(steps(r)).toBe("stop,abort,giveUp");

    const d = new RunStop(() => {});
    d.begin();
    d.begin(); // idempotent: one set of deadlines
    expect(vi.getTimerCount()).toBe(2);
    d.dispose();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(60_000);
    expect(steps(d)).toBe("stop");
  });

  it("untilStopped ends the stream at the next item after the stop, closing the source", async () => {
    const c = new AbortController();
    let closed = false;
    async function* source() {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        closed = true;
      }
    }
    const seen: number[] = [];
    for await (const i of untilStopped(source(), c.signal)) {
      seen.push(i);
      if (i === 2) c.abort();
    }
    expect(seen).toEqual([0, 1, 2]);
    expect(closed).toBe(true);
  });
});
