import type { Clock } from "./clock.js";

/**
 * A token bucket: `ratePerSec` tokens per second, at most `burst` stored. `take()` resolves when a
 * token is available; waiters are served first come, first served. The rate can change at any time
 * (AIMD), and `blockUntil()` holds every taker until a moment (Retry-After).
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private rate: number;
  private readonly burst: number;
  private blockedUntil = 0;
  private readonly clock: Clock;
  private tail: Promise<void> = Promise.resolve();

  constructor(ratePerSec: number, burst: number, clock: Clock) {
    if (!(ratePerSec > 0) || !Number.isFinite(ratePerSec))
      throw new TypeError(`ratePerSec must be > 0, got ${ratePerSec}`);
    if (!(burst >= 1) || !Number.isFinite(burst)) throw new TypeError(`burst must be >= 1, got ${burst}`);
    this.rate = ratePerSec;
    this.burst = burst;
    this.tokens = burst;
    this.clock = clock;
    this.last = clock.now();
  }

  /** Current rate, tokens per second. */
  get ratePerSec(): number {
    return this.rate;
  }

  /** Change the rate (tokens already earned are kept). */
  setRate(ratePerSec: number): void {
    this.refill();
    this.rate = ratePerSec;
  }

  /**
   * No token is handed out before `atMs` (epoch ms). At `atMs` exactly one token is ready (the probe),
   * then the normal rate applies: a paused host gets no burst when it comes back.
   */
  blockUntil(atMs: number): void {
    if (atMs > this.blockedUntil) {
      this.blockedUntil = atMs;
      this.tokens = 1;
      this.last = Math.max(this.last, atMs);
    }
  }

  /** The moment before which no token is handed out (epoch ms; 0 = none). */
  get blockedUntilMs(): number {
    return this.blockedUntil;
  }

  private refill(): void {
    const now = this.clock.now();
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
      this.last = now;
    }
  }

  /** Wait for one token (FIFO). Rejects with AbortError if `signal` aborts while waiting. */
  take(signal?: AbortSignal): Promise<void> {
    const turn = this.tail.then(() => this.acquire(signal));
    // The next waiter queues behind this one whether it succeeds or is aborted.
    this.tail = turn.catch(() => {});
    return turn;
  }

  private async acquire(signal?: AbortSignal): Promise<void> {
    for (;;) {
      if (signal?.aborted) {
        const e = new Error("aborted");
        e.name = "AbortError";
        throw e;
      }
      const now = this.clock.now();
      if (now < this.blockedUntil) {
        await this.clock.sleep(this.blockedUntil - now, signal);
        continue;
      }
      this.refill();
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await this.clock.sleep(Math.ceil(((1 - this.tokens) / this.rate) * 1000), signal);
    }
  }
}
