import pLimit, { type LimitFunction } from "p-limit";
import type { Clock } from "./clock.js";
import { TokenBucket } from "./token-bucket.js";

/** Per-host politeness settings (defaults in src/fetch/defaults.ts). */
export interface PacerConfig {
  readonly concurrency: number;
  readonly ratePerSec: number;
  readonly burst: number;
  readonly decreaseFactor: number;
  readonly minRatePerSec: number;
  readonly recoverStep: number;
  readonly recoverEvery: number;
  readonly breakerFailures: number;
  readonly breakerPauseMs: number;
  readonly breakerMaxOpens: number;
}

/** How a host is doing, for `status` and the ledger heartbeat. */
export interface HostState {
  readonly state: "ok" | "slowed" | "paused" | "down";
  /** Current allowed rate, req/s. */
  readonly rate: number;
  /** Epoch ms until which no request is sent (Retry-After or circuit breaker). */
  readonly pausedUntil?: number;
  readonly consecutiveFailures: number;
}

interface Host {
  readonly limit: LimitFunction;
  readonly bucket: TokenBucket;
  failures: number;
  opens: number;
  successes: number;
  down: boolean;
}

/**
 * Per-host pacing: a concurrency limit (p-limit) AND a token bucket, separate knobs. Throttling
 * (429/503) halves the host's rate (AIMD, with a floor) and additive recovery brings it back slowly;
 * Retry-After holds every request to that host until the time has passed; a run of failures opens a
 * circuit breaker that pauses the host, and after `breakerMaxOpens` openings without a success the host
 * is reported down so the run can end with exit 5 instead of spinning.
 */
export class HostPacer {
  private readonly hosts = new Map<string, Host>();
  private readonly config: PacerConfig;
  private readonly clock: Clock;

  constructor(config: PacerConfig, clock: Clock) {
    if (!Number.isInteger(config.concurrency) || config.concurrency < 1) {
      throw new TypeError(`concurrency must be a whole number >= 1, got ${config.concurrency}`);
    }
    this.config = config;
    this.clock = clock;
  }

  private host(name: string): Host {
    let h = this.hosts.get(name);
    if (h === undefined) {
      h = {
        limit: pLimit(this.config.concurrency),
        bucket: new TokenBucket(this.config.ratePerSec, this.config.burst, this.clock),
        failures: 0,
        opens: 0,
        successes: 0,
        down: false,
      };
      this.hosts.set(name, h);
    }
    return h;
  }

  /**
   * Run `fn` when `host` has a free slot and a token. Rejects with AbortError if `signal` aborts before
   * `fn` starts; once started, `fn` runs to completion (it gets its own signal from the caller).
   */
  schedule<T>(host: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const h = this.host(host);
    return h.limit(async () => {
      await h.bucket.take(signal);
      return fn();
    });
  }

  /**
   * Tell the pacer how a request to `host` went: "success" (the server answered sensibly, including
   * 404), "throttled" (429/503: slow down, obey retryAfterMs) or "failure" (connection error, 5xx, bad body).
   */
  report(host: string, event: "success" | "throttled" | "failure", retryAfterMs?: number): void {
    const h = this.host(host);
    const c = this.config;
    const now = this.clock.now();
    if (event === "success") {
      h.failures = 0;
      h.opens = 0;
      if (++h.successes >= c.recoverEvery && h.bucket.ratePerSec < c.ratePerSec) {
        h.successes = 0;
        h.bucket.setRate(Math.min(c.ratePerSec, h.bucket.ratePerSec + c.recoverStep));
      }
      return;
    }
    h.successes = 0;
    if (event === "throttled")
      h.bucket.setRate(Math.max(c.minRatePerSec, h.bucket.ratePerSec * c.decreaseFactor));
    if (retryAfterMs !== undefined && retryAfterMs > 0) h.bucket.blockUntil(now + retryAfterMs);
    if (++h.failures >= c.breakerFailures) {
      h.opens++;
      if (h.opens >= c.breakerMaxOpens) h.down = true;
      h.bucket.blockUntil(now + c.breakerPauseMs);
      // Half-open: the next failure after the pause re-opens the breaker at once; a success closes it.
      h.failures = c.breakerFailures - 1;
    }
  }

  /** True once the host has failed through `breakerMaxOpens` breaker pauses with no success. */
  isHostDown(host: string): boolean {
    return this.hosts.get(host)?.down === true;
  }

  /** The host's current state. */
  hostState(host: string): HostState {
    const h = this.host(host);
    const until = h.bucket.blockedUntilMs;
    const paused = until > this.clock.now();
    const state = h.down
      ? "down"
      : paused
        ? "paused"
        : h.bucket.ratePerSec < this.config.ratePerSec
          ? "slowed"
          : "ok";
    return {
      state,
      rate: h.bucket.ratePerSec,
      consecutiveFailures: h.failures,
      ...(paused ? { pausedUntil: until } : {}),
    };
  }

  /** Every host's state, for the ledger heartbeat. */
  snapshot(): Record<string, HostState> {
    const out: Record<string, HostState> = {};
    for (const name of this.hosts.keys()) out[name] = this.hostState(name);
    return out;
  }
}
