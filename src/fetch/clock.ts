/** Time source for everything that waits: real in production, virtual in schedule tests. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolve after `ms` (negative counts as 0); reject with an AbortError if `signal` aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The error every wait in src/fetch rejects with when its signal aborts (name "AbortError"). */
export function abortError(signal?: AbortSignal): Error {
  const e = new Error("aborted", signal?.reason === undefined ? {} : { cause: signal.reason });
  e.name = "AbortError";
  return e;
}

/** The real clock (Date.now, setTimeout). */
export const realClock: Clock = {
  now: () => Date.now(),
  sleep(ms, signal) {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortError(signal));
      const onAbort = (): void => {
        clearTimeout(t);
        reject(abortError(signal));
      };
      const t = setTimeout(
        () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
        Math.max(0, ms),
      );
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  },
};

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly fire: () => void;
}

/**
 * A virtual clock for tests: time only moves when `advance()` is called, so a schedule (when each
 * request may start) is checked exactly, without sleeping. Timers due at the same moment fire in the
 * order they were set.
 */
export class VirtualClock implements Clock {
  private t: number;
  private timers: Timer[] = [];
  private seq = 0;

  /** Start at `startMs` (epoch ms, default 0). */
  constructor(startMs = 0) {
    this.t = startMs;
  }

  /** The virtual time, ms. */
  now(): number {
    return this.t;
  }

  /** Resolve when virtual time reaches now + `ms`; reject with AbortError if `signal` aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortError(signal));
      const onAbort = (): void => {
        this.timers = this.timers.filter((x) => x !== timer);
        reject(abortError(signal));
      };
      const timer: Timer = {
        at: this.t + Math.max(0, ms),
        seq: this.seq++,
        fire: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      this.timers.push(timer);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Timers not yet fired (to assert that nothing is left waiting). */
  get pendingTimers(): number {
    return this.timers.length;
  }

  /** Move time forward by `ms`, firing due timers in order and letting promise chains run between them. */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new TypeError(`ms must be >= 0, got ${ms}`);
    const end = this.t + ms;
    for (;;) {
      await flushMicrotasks();
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers[0];
      if (next === undefined || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fire();
    }
    this.t = end;
    await flushMicrotasks();
  }
}

/** Let every pending promise chain run (a macrotask turn drains the whole microtask queue). */
function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
