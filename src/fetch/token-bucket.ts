import { abortError, type Clock } from "./clock.js";

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/** Token counts within this of a whole token are whole: keeps 0.2 s * 5/s from being 0.9999999. */
const EPSILON = 1e-9;

/**
 * The bucket holds at least this many seconds of tokens. Wake-ups are timers (>= 1 ms, often later)
 * on a millisecond clock, so a bucket of one token let no more than one request go per tick: about
 * 770 req/s here whatever the rate (measured: 5,000 files from nginx took 6.5 s at --rate 1e6, of
 * which 5 s waiting for timers). 4 ms of tokens changes nothing below 250 req/s.
 */
const TICK_SLACK_S = 0.004;

function checkRate(ratePerSec: number): void {
  if (!(ratePerSec > 0) || !Number.isFinite(ratePerSec))
    throw new TypeError(`ratePerSec must be a finite number > 0, got ${ratePerSec}`);
}

function checkBurst(burst: number): void {
  if (!(burst >= 1) || !Number.isFinite(burst))
    throw new TypeError(`burst must be a finite number >= 1, got ${burst}`);
}

/**
 * A token bucket: `ratePerSec` tokens per second, at most `burst` stored, starting full. `take()`
 * resolves when a token is available; waiters are served strictly first come, first served. The rate
 * can change at any time (AIMD) and waiters are re-timed at once; `blockUntil()` holds every taker
 * until a moment (Retry-After, circuit breaker). All waiting goes through the injected Clock.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private rate: number;
  private size: number;
  private blockedUntil = 0;
  private readonly clock: Clock;
  private readonly queue: Waiter[] = [];
  /** Cancels the one pending wake-up sleep (there is at most one, for the head of the queue). */
  private wake: AbortController | undefined;
  /** When the pending wake-up fires (clock ms). */
  private wakeAt = 0;

  /** Throws TypeError unless ratePerSec > 0 and burst >= 1 (both finite). */
  constructor(ratePerSec: number, burst: number, clock: Clock) {
    checkRate(ratePerSec);
    checkBurst(burst);
    this.rate = ratePerSec;
    this.size = burst;
    this.tokens = burst;
    this.clock = clock;
    this.last = clock.now();
  }

  /** Current rate, tokens per second. */
  get ratePerSec(): number {
    return this.rate;
  }

  /** Current bucket size (largest burst), tokens. */
  get burst(): number {
    return this.size;
  }

  /** Callers waiting for a token. */
  get waiting(): number {
    return this.queue.length;
  }

  /** The moment before which no token is handed out (epoch ms; 0 = none). */
  get blockedUntilMs(): number {
    return this.blockedUntil;
  }

  /**
   * Change the rate (tokens/s) and optionally the burst; tokens already earned are kept (clamped to the
   * new burst). Throws TypeError on a rate <= 0 or burst < 1.
   */
  setRate(ratePerSec: number, burst: number = this.size): void {
    checkRate(ratePerSec);
    checkBurst(burst);
    this.refill();
    this.rate = ratePerSec;
    this.size = burst;
    this.tokens = Math.min(this.tokens, this.capacity);
    this.pump();
  }

  /**
   * Hand out no token before `atMs` (epoch ms; an earlier moment than the current block is ignored).
   * At `atMs` at most one token is ready (exactly one after a pause of 1/rate or longer), then the
   * normal rate applies: a paused host gets no burst when it comes back.
   */
  blockUntil(atMs: number): void {
    if (atMs > this.blockedUntil) {
      this.refill();
      // What would have accrued by atMs, but never more than the one probe token: no burst after a pause.
      const from = Math.max(this.last, this.clock.now());
      if (atMs > from) {
        this.tokens = Math.min(1, this.tokens + ((atMs - from) / 1000) * this.rate);
        this.last = atMs;
      }
      this.blockedUntil = atMs;
      this.pump();
    }
  }

  /** Keep at most `maxTokens` stored tokens (>= 0): a host coming back starts gently, not with a burst. */
  drain(maxTokens = 0): void {
    this.refill();
    this.tokens = Math.min(this.tokens, Math.max(0, maxTokens));
    this.pump();
  }

  /** Wait for one token (FIFO). Rejects with an AbortError if `signal` aborts while waiting. */
  take(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.queue.indexOf(waiter);
          if (i >= 0) this.queue.splice(i, 1);
          reject(abortError(signal));
          if (this.queue.length === 0) {
            // Nobody waits any more (a run stopping): drop the wake-up, or its timer would keep the
            // process alive until a long pause (Retry-After: 3600) ends.
            this.wake?.abort();
            this.wake = undefined;
          } else if (i === 0) {
            // The head left: the next waiter's wake-up time is re-computed.
            this.pump();
          }
        },
      };
      this.queue.push(waiter);
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.pump();
    });
  }

  /** Tokens the bucket can hold: the burst, or 4 ms worth at a high rate. */
  private get capacity(): number {
    return Math.max(this.size, this.rate * TICK_SLACK_S);
  }

  private refill(): void {
    const now = this.clock.now();
    if (now > this.last) {
      this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.rate);
      this.last = now;
    }
  }

  /** Serve every waiter that can go now, then arm one wake-up for the next (replacing any earlier one). */
  private pump(): void {
    this.refill();
    const now = this.clock.now();
    while (this.queue.length > 0 && now >= this.blockedUntil && this.tokens >= 1 - EPSILON) {
      this.tokens = Math.max(0, this.tokens - 1);
      const w = this.queue.shift() as Waiter;
      w.signal?.removeEventListener("abort", w.onAbort);
      w.resolve();
    }
    // An idle or already-early-enough wake-up is left to fire harmlessly: aborting one costs an
    // AbortError with a stack trace (profiled: ~75 us per request on this machine at 700 req/s).
    if (this.queue.length === 0) return;
    const waitMs =
      now < this.blockedUntil
        ? this.blockedUntil - now
        : Math.max(1, Math.ceil(((1 - this.tokens) / this.rate) * 1000 - EPSILON));
    if (this.wake !== undefined && this.wakeAt <= now + waitMs) return;
    this.wake?.abort();
    const wake = new AbortController();
    this.wake = wake;
    this.wakeAt = now + waitMs;
    this.clock.sleep(waitMs, wake.signal).then(
      () => {
        if (this.wake === wake) {
          this.wake = undefined;
          this.pump();
        }
      },
      () => {
        // cancelled: a newer wake-up replaced this one
      },
    );
  }
}
