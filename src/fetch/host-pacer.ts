import pLimit, { type LimitFunction } from "p-limit";
import { abortError, type Clock } from "./clock.js";
import { TokenBucket } from "./token-bucket.js";

/** Per-host politeness settings; every value and its default is in DEFAULTS (src/fetch/defaults.ts). */
export interface PacerConfig {
  /** Requests in flight per host, whole number >= 1. */
  readonly concurrency: number;
  /** Configured (and highest) rate, req/s per host. */
  readonly ratePerSec: number;
  /** Token-bucket size per host at the configured rate (shrinks in proportion while slowed). */
  readonly burst: number;
  /** AIMD factor on 429/503, in (0, 1]. */
  readonly decreaseFactor: number;
  /** AIMD floor, req/s (the configured rate if that is lower). */
  readonly minRatePerSec: number;
  /** AIMD additive step per `recoverEvery` successes, as a fraction of the configured rate. */
  readonly recoverStep: number;
  readonly recoverEvery: number;
  /** Consecutive failures (incl. throttles) that open the circuit breaker. */
  readonly breakerFailures: number;
  /** Pause of an open breaker before its probe request, ms. */
  readonly breakerPauseMs: number;
  /** Breaker openings without a success before the host is given up. */
  readonly breakerMaxOpens: number;
  /** Total pause (breaker + Retry-After) without a success before the host is given up, ms. */
  readonly hostDownAfterMs: number;
}

/** What a request to a host came to, as far as the host's health goes. */
export type HostEvent = "success" | "throttled" | "failure";

/** How a host is doing, for `status`, the ledger heartbeat and the run's stop decision. */
export interface HostState {
  /** "slowed": rate below the configured one; "paused": Retry-After or breaker; "down": given up. */
  readonly state: "ok" | "slowed" | "paused" | "down";
  /** Current allowed rate, req/s. */
  readonly rate: number;
  /** Epoch ms until which no request is sent (Retry-After or circuit breaker), when in the future. */
  readonly pausedUntil?: number;
  readonly consecutiveFailures: number;
  /** "open": paused or waiting for its probe to start; "half-open": the probe is in flight. */
  readonly breaker: "closed" | "open" | "half-open";
}

interface Host {
  readonly limit: LimitFunction;
  readonly bucket: TokenBucket;
  breaker: "closed" | "open" | "half-open";
  /** Settles when the half-open probe's verdict arrives; other requests wait on it. */
  probe: { readonly done: Promise<void>; readonly settle: () => void } | undefined;
  failures: number;
  opens: number;
  /** Pause time accumulated since the last success, ms (overlapping pauses counted once). */
  pausedTotalMs: number;
  successes: number;
  inFlight: number;
  /** Reports still expected from requests sent before the last rate decrease: they do not decrease again. */
  stragglers: number;
  down: boolean;
}

function check(ok: boolean, what: string, value: number): void {
  if (!ok) throw new TypeError(`${what}, got ${value}`);
}

/**
 * Per-host politeness: a concurrency limit (p-limit) AND a token bucket, separate knobs.
 *
 * - AIMD: "throttled" (429/503) multiplies the host's rate by `decreaseFactor` (down to the floor), once
 *   per window: reports from requests already in flight at the decrease do not decrease it again.
 *   Every `recoverEvery` successes add `recoverStep` x the configured rate back, up to it.
 * - Retry-After: `report(..., retryAfterMs)` holds every request to that host until the time has passed.
 * - Circuit breaker: `breakerFailures` consecutive failures/throttles pause the host for `breakerPauseMs`;
 *   then exactly one probe request goes out (half-open) while the rest wait; its success closes the
 *   breaker, its failure re-opens it.
 * - Give up: after `breakerMaxOpens` openings or `hostDownAfterMs` of pauses with no success in between,
 *   `isHostDown()` is true so the caller can stop and exit 5. The pacer itself keeps scheduling: the
 *   caller decides what to do with a host that is down.
 *
 * Contract: call `report()` once per request that `schedule()` started, right after it settles (in
 * the same tick); a probe left without a report is taken as inconclusive and the next request probes.
 */
export class HostPacer {
  private readonly hosts = new Map<string, Host>();
  private readonly config: PacerConfig;
  private readonly clock: Clock;

  /** Throws TypeError naming the first setting out of range. */
  constructor(config: PacerConfig, clock: Clock) {
    const c = config;
    check(
      Number.isInteger(c.concurrency) && c.concurrency >= 1,
      "concurrency must be a whole number >= 1",
      c.concurrency,
    );
    check(
      c.ratePerSec > 0 && Number.isFinite(c.ratePerSec),
      "ratePerSec must be a finite number > 0",
      c.ratePerSec,
    );
    check(c.burst >= 1 && Number.isFinite(c.burst), "burst must be a finite number >= 1", c.burst);
    check(
      c.decreaseFactor > 0 && c.decreaseFactor <= 1,
      "decreaseFactor must be in (0, 1]",
      c.decreaseFactor,
    );
    check(c.minRatePerSec > 0, "minRatePerSec must be > 0", c.minRatePerSec);
    check(c.recoverStep >= 0, "recoverStep must be >= 0", c.recoverStep);
    check(
      Number.isInteger(c.recoverEvery) && c.recoverEvery >= 1,
      "recoverEvery must be a whole number >= 1",
      c.recoverEvery,
    );
    check(
      Number.isInteger(c.breakerFailures) && c.breakerFailures >= 1,
      "breakerFailures must be a whole number >= 1",
      c.breakerFailures,
    );
    check(c.breakerPauseMs >= 0, "breakerPauseMs must be >= 0", c.breakerPauseMs);
    check(
      Number.isInteger(c.breakerMaxOpens) && c.breakerMaxOpens >= 1,
      "breakerMaxOpens must be a whole number >= 1",
      c.breakerMaxOpens,
    );
    check(c.hostDownAfterMs > 0, "hostDownAfterMs must be > 0", c.hostDownAfterMs);
    this.config = config;
    this.clock = clock;
  }

  private host(name: string): Host {
    let h = this.hosts.get(name);
    if (h === undefined) {
      h = {
        limit: pLimit(this.config.concurrency),
        bucket: new TokenBucket(this.config.ratePerSec, this.config.burst, this.clock),
        breaker: "closed",
        probe: undefined,
        failures: 0,
        opens: 0,
        pausedTotalMs: 0,
        successes: 0,
        inFlight: 0,
        stragglers: 0,
        down: false,
      };
      this.hosts.set(name, h);
    }
    return h;
  }

  /**
   * Run `fn` once `host` has a free concurrency slot, a token, no pause in force and (after a breaker
   * pause) no probe awaiting its verdict. Rejects with an AbortError if `signal` aborts before `fn`
   * starts; once started, `fn` runs to completion and its result or error is passed through.
   */
  schedule<T>(host: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const h = this.host(host);
    let started = false;
    const run = h.limit(async () => {
      await this.admit(h, signal);
      // An abort between the token and this line already told the caller "not started" (onAbort below):
      // fn must not run then (a token can reach a waiter while the same abort is being dispatched).
      if (signal?.aborted) throw abortError(signal);
      started = true;
      h.inFlight++;
      let isProbe = false;
      if (h.breaker === "open") {
        // The pause is over (the bucket handed out a token): this request is the one probe.
        h.breaker = "half-open";
        let settle = (): void => {};
        const done = new Promise<void>((r) => {
          settle = r;
        });
        h.probe = { done, settle };
        isProbe = true;
      }
      const probe = h.probe;
      try {
        return await fn();
      } finally {
        h.inFlight--;
        // Give the caller's report() its turn; a probe nobody reported on is inconclusive.
        if (isProbe)
          setImmediate(() => {
            if (h.probe === probe && h.breaker === "half-open") this.endProbe(h, "open");
          });
      }
    });
    if (signal === undefined) return run;
    return new Promise<T>((resolve, reject) => {
      // Leave the queue promptly on abort; the queued closure then finds the signal aborted and ends.
      const onAbort = (): void => {
        if (!started) reject(abortError(signal));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      run.then(
        (v) => {
          signal.removeEventListener("abort", onAbort);
          resolve(v);
        },
        (err: unknown) => {
          signal.removeEventListener("abort", onAbort);
          reject(err);
        },
      );
    });
  }

  /** Wait until a request may start: no probe pending, then a token (the bucket holds any pause). */
  private async admit(h: Host, signal: AbortSignal | undefined): Promise<void> {
    for (;;) {
      if (signal?.aborted) throw abortError(signal);
      if (h.probe !== undefined) {
        await abortable(h.probe.done, signal);
        continue;
      }
      await h.bucket.take(signal);
      // Another request became the probe while this one waited for its token: wait for the verdict.
      if (h.probe !== undefined) continue;
      return;
    }
  }

  private endProbe(h: Host, breaker: "closed" | "open"): void {
    h.breaker = breaker;
    const p = h.probe;
    h.probe = undefined;
    p?.settle();
  }

  /** Hold every request to `h` until `untilMs`, counting only the part not already paused. */
  private pause(h: Host, untilMs: number): void {
    const from = Math.max(this.clock.now(), h.bucket.blockedUntilMs);
    if (untilMs > from) h.pausedTotalMs += untilMs - from;
    h.bucket.blockUntil(untilMs);
  }

  private setRate(h: Host, rate: number): void {
    const c = this.config;
    // A slowed host also loses burst in proportion: no 5-request volley to a server that said 429.
    const burst = rate >= c.ratePerSec ? c.burst : Math.max(1, Math.floor((c.burst * rate) / c.ratePerSec));
    h.bucket.setRate(rate, burst);
  }

  /**
   * Tell the pacer how a request to `host` went: "success" (the server answered sensibly, incl. a 404
   * for one object), "throttled" (429/503: slow down) or "failure" (connection error, timeout, other
   * 5xx). `retryAfterMs` (ms from now, from Retry-After) holds the whole host that long.
   */
  report(host: string, event: HostEvent, retryAfterMs?: number): void {
    const h = this.host(host);
    const c = this.config;
    const now = this.clock.now();
    const straggler = h.stragglers > 0;
    if (straggler) h.stragglers--;
    if (retryAfterMs !== undefined && retryAfterMs > 0) this.pause(h, now + retryAfterMs);
    if (event === "success") {
      h.failures = 0;
      h.opens = 0;
      h.pausedTotalMs = 0;
      h.down = false;
      if (h.breaker === "half-open") {
        // The probe succeeded. Requests that waited for it used up tokens meanwhile: restart gently.
        h.bucket.drain(1);
        this.endProbe(h, "closed");
      } else if (h.breaker === "open") {
        // A request sent before the pause came back fine: the pause stays, but no probe is needed.
        this.endProbe(h, "closed");
      }
      const rate = h.bucket.ratePerSec;
      if (rate < c.ratePerSec && ++h.successes >= c.recoverEvery) {
        h.successes = 0;
        this.setRate(h, Math.min(c.ratePerSec, rate + c.recoverStep * c.ratePerSec));
      }
      return;
    }
    h.successes = 0;
    if (event === "throttled" && !straggler) {
      const floor = Math.min(c.minRatePerSec, c.ratePerSec);
      this.setRate(h, Math.max(floor, h.bucket.ratePerSec * c.decreaseFactor));
      h.stragglers = h.inFlight;
    }
    h.failures++;
    if (h.breaker === "half-open") {
      // The probe failed: pause again.
      this.openBreaker(h, now);
    } else if (h.breaker === "closed" && h.failures >= c.breakerFailures) {
      this.openBreaker(h, now);
    }
    // breaker "open": a request sent before the pause failed late; the pause already covers it.
    if (h.opens >= c.breakerMaxOpens || h.pausedTotalMs >= c.hostDownAfterMs) h.down = true;
  }

  private openBreaker(h: Host, now: number): void {
    h.opens++;
    this.pause(h, now + this.config.breakerPauseMs);
    this.endProbe(h, "open");
  }

  /** True once the host has had `breakerMaxOpens` breaker openings or `hostDownAfterMs` of pauses with no success. */
  isHostDown(host: string): boolean {
    return this.hosts.get(host)?.down === true;
  }

  /** The host's current state (a host never seen is "ok" at the configured rate). */
  hostState(host: string): HostState {
    const h = this.hosts.get(host);
    if (h === undefined)
      return { state: "ok", rate: this.config.ratePerSec, consecutiveFailures: 0, breaker: "closed" };
    const until = h.bucket.blockedUntilMs;
    const paused = until > this.clock.now();
    const state = h.down
      ? "down"
      : paused || h.breaker !== "closed"
        ? "paused"
        : h.bucket.ratePerSec < this.config.ratePerSec
          ? "slowed"
          : "ok";
    return {
      state,
      rate: h.bucket.ratePerSec,
      consecutiveFailures: h.failures,
      breaker: h.breaker,
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

/** `p`, or an AbortError as soon as `signal` aborts. */
function abortable(p: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return p;
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    });
  });
}
