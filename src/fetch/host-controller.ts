/**
 * The per-host request controller: a synchronous state machine that decides when the next request to
 * one host may start (rate, window, pauses, circuit breaker) and learns from how each request went.
 * HostPacer (async, real or virtual clock) and the simulator (src/fetch/sim, millions of requests in
 * simulated time) drive this same class, so the figures the simulator prints are the CLI's behaviour.
 *
 * --rate and --concurrency are ceilings; below them the controller finds what the server takes:
 * - Rate (AWS SDK "adaptive" retry mode, CUBIC / RFC 9438): a throttle (429/503) sets the rate to
 *   beta x the send rate measured when it came, at most once per round trip (a throttle on a request
 *   sent before the last decrease is the same congestion event). The rate then grows back along a cubic
 *   of the time since that throttle: to the rate at the throttle within `recoverMs`, flat near it, then
 *   probing above it (10% above after `probeMs`, faster after). Successes are not counted: a 20% fault
 *   mix never gives "10 successes in a row", time always passes.
 * - Window (TCP Vegas, Netflix Gradient2): the requests allowed in flight follow the latency. The
 *   no-load latency is the lowest round trip seen; the server's queue is estimated each round as
 *   inFlight x (1 - minRtt / rtt). The window grows by one per round while less than `queueLow`
 *   requests wait at the server, and drops towards the part that does not queue when more than
 *   `queueHigh` wait: the server's queue stays short before it ever says 429, which is what makes it
 *   safe against the many archives that queue instead of refusing.
 * - Faults unrelated to load (500 without Retry-After, reset, truncated body, HTML with 200) change
 *   neither: they are retried with backoff by the caller and count towards the circuit breaker only.
 * - Retry-After holds the whole host exactly that long; the circuit breaker pauses a failing host.
 */

import { LatencyWindow } from "./latency-window.js";
import { checkPacerConfig, type PacerConfig } from "./pacer-config.js";

/**
 * What a request to a host came to, as far as the host's load goes: "success" (the server answered
 * sensibly, incl. a 404 for one object), "throttled" (429/503: slow down), "failure" (a fault unrelated
 * to load: 500 without Retry-After, reset, truncated body, HTML with 200; retried, not slowed for) or
 * "timeout" (no complete answer in time: a fault, whose duration still counts as one latency sample).
 */
export type HostEvent = "success" | "throttled" | "failure" | "timeout";

/** Why a host runs below its ceilings, most binding first. */
export type SlowReason = "retry-after" | "breaker" | "throttled" | "queueing";

/** How a host is doing, for `status`, the ledger heartbeat, `--json` and the run's stop decision. */
export interface HostState {
  /** "slowed": rate or window below the ceiling; "paused": Retry-After or breaker; "down": given up. */
  readonly state: "ok" | "slowed" | "paused" | "down";
  /** Current allowed rate, req/s (at most --rate). */
  readonly rate: number;
  /** Current window: requests allowed in flight (1 ..--concurrency). */
  readonly window: number;
  /** Requests in flight now. */
  readonly inFlight: number;
  /** What the server seems to take, req/s: the rate at the last throttle or the rate it served while queueing. */
  readonly capacity?: number;
  /** No-load round trip (lowest seen), ms. */
  readonly minRttMs?: number;
  /** Smoothed round trip, ms. */
  readonly rttMs?: number;
  /** Why the host runs below its ceilings (absent when it does not). */
  readonly reason?: SlowReason;
  /** Fraction of recent requests the server accepted (not 429/503), 0..1 (Google SRE's signal). */
  readonly accepted: number;
  /** Epoch ms until which no request is sent (Retry-After or circuit breaker), when in the future. */
  readonly pausedUntil?: number;
  readonly consecutiveFailures: number;
  /** "open": paused or waiting for its probe to start; "half-open": the probe is in flight. */
  readonly breaker: "closed" | "open" | "half-open";
}

/** One started request, handed back to `finish()` and `report()`. */
export interface Ticket {
  /** Start, clock ms. */
  readonly startMs: number;
  /** This request is the circuit breaker's half-open probe. */
  readonly probe: boolean;
}

/** Token counts within this of a whole token are whole: keeps 0.2 s * 5/s from being 0.9999999. */
const EPSILON = 1e-9;
/**
 * The bucket holds at least this many seconds of tokens: wake-ups are >= 1 ms timers, so one token at
 * a time would cap a fast host near 770 req/s whatever the rate (see token-bucket.ts).
 */
const TICK_SLACK_S = 0.004;
/** Start times kept to measure the send rate. */
const SEND_RING = 128;
/** The send rate is measured over at least this long, ms, and at least 4 round trips. */
const SEND_SPAN_MS = 1_000;
/** Recent requests weighed in the accepted fraction (EWMA weight 1/this). */
const ACCEPT_SPAN = 100;
/** Throttles are "rare" while the accepted fraction of recent requests is at least this. */
const RARE_THROTTLES = 0.95;
/** While the rate recovers, a waiting request looks again after at most this long, ms. */
const RECHECK_MS = 100;

/**
 * One host's controller. Synchronous and clock-free: every method takes the time (ms) it happens at,
 * so the async pacer and the simulator give the same decisions for the same events.
 *
 * Protocol: `startDelay(now)` says whether a request may start (0), must wait (ms), or must wait for a
 * request to end (Infinity); `start(now)` starts one and returns its ticket; `finish(ticket, now)` when
 * it ends; then `report(now, event, retryAfterMs, ticket)` with what it came to.
 */
export class HostController {
  private readonly c: PacerConfig;
  // Token bucket (as TokenBucket, synchronously).
  private rate: number;
  private size: number;
  private tokens: number;
  private last: number;
  private blockedUntil = 0;
  private blockedBy: "retry-after" | "breaker" | undefined;
  // Rate control (CUBIC).
  private readonly sends: number[] = [];
  private sendHead = 0;
  /** Clock ms of the last decrease: throttles on requests sent before it are the same event. */
  private lastDecreaseMs = Number.NEGATIVE_INFINITY;
  /** Rate at the last throttle, req/s (CUBIC W_max); NaN before any. */
  private wMax = Number.NaN;
  private epochMs = Number.NEGATIVE_INFINITY;
  /** Last time a request waited for a token or a window slot, ms: before it the host sent all it had. */
  private boundAtMs = Number.NEGATIVE_INFINITY;
  /** End of the last pause, ms: the send rate is measured after it, not across it. */
  private pauseEndMs = Number.NEGATIVE_INFINITY;
  // Window (Vegas / Gradient).
  private readonly lw: LatencyWindow;
  /** What the server seems to take, req/s: the rate at the last throttle, or what it completed while saturated. */
  private capacityEst = Number.NaN;
  private acceptEwma = 1;
  // Circuit breaker.
  private breakerState: "closed" | "open" | "half-open" = "closed";
  private failures = 0;
  private opens = 0;
  private pausedTotalMs = 0;
  private down = false;

  /** Throws TypeError naming the first setting out of range. `nowMs`: the clock when the host is first seen. */
  constructor(config: PacerConfig, nowMs: number) {
    checkPacerConfig(config);
    this.c = config;
    this.rate = config.ratePerSec;
    this.size = config.burst;
    this.tokens = config.burst;
    this.last = nowMs;
    this.lw = new LatencyWindow(config, nowMs);
  }

  /** Requests in flight. */
  get inFlight(): number {
    return this.lw.inFlight;
  }

  /** Current allowed rate, req/s. */
  get ratePerSec(): number {
    return this.rate;
  }

  /** Current window, requests in flight allowed. */
  get window(): number {
    return this.lw.window;
  }

  /** Breaker state. */
  get breaker(): "closed" | "open" | "half-open" {
    return this.breakerState;
  }

  /** The host has been given up (breakerMaxOpens openings or hostDownAfterMs of pauses, no success). */
  get isDown(): boolean {
    return this.down;
  }

  /** The moment before which nothing starts (Retry-After or breaker), clock ms; 0 when none was set. */
  get blockedUntilMs(): number {
    return this.blockedUntil;
  }

  /**
   * 0 when a request may start at `now`; otherwise ms to wait for a token or a pause to end, or
   * Infinity while the window is full or a breaker probe awaits its verdict (a `finish`/`report` frees it).
   */
  startDelay(now: number): number {
    if (this.breakerState === "half-open") return Number.POSITIVE_INFINITY;
    if (now < this.blockedUntil) return this.blockedUntil - now;
    if (this.lw.inFlight >= this.lw.window) {
      this.boundAtMs = now;
      return Number.POSITIVE_INFINITY;
    }
    this.tick(now);
    this.refill(now);
    if (this.tokens >= 1 - EPSILON) return 0;
    this.boundAtMs = now;
    const waitMs = Math.max(1, Math.ceil(((1 - this.tokens) / this.rate) * 1000 - EPSILON));
    // While the rate recovers, look again soon: the token may come sooner at tomorrow's rate.
    return this.rate < this.c.ratePerSec && !Number.isNaN(this.wMax) ? Math.min(waitMs, RECHECK_MS) : waitMs;
  }

  /** Start a request at `now` (call only when `startDelay(now)` is 0): takes a token and a window slot. */
  start(now: number): Ticket {
    this.tick(now);
    this.refill(now);
    this.tokens = Math.max(0, this.tokens - 1);
    this.lw.started(now);
    if (this.sends.length < SEND_RING) this.sends.push(now);
    else {
      this.sends[this.sendHead] = now;
      this.sendHead = (this.sendHead + 1) % SEND_RING;
    }
    let probe = false;
    if (this.breakerState === "open") {
      // The pause is over (a token was handed out): this request is the one probe.
      this.breakerState = "half-open";
      probe = true;
    }
    return { startMs: now, probe };
  }

  /** The request of `ticket` ended at `now` (before its report). */
  finish(_ticket: Ticket, now: number): void {
    this.lw.ended(now);
  }

  /** A half-open probe ended with no report: inconclusive, so the breaker re-opens without a new pause. */
  probeUnreported(): void {
    if (this.breakerState === "half-open") this.breakerState = "open";
  }

  /**
   * What a request came to. `retryAfterMs` (ms from `now`) holds the whole host that long, whatever the
   * event. `ticket` (from `start`, with `endMs` when it is known) gives the latency sample and tells a
   * throttle on a request sent before the last decrease (the same congestion event) from a new one;
   * without it the report counts as a request sent and ended at `now`.
   */
  report(
    now: number,
    event: HostEvent,
    retryAfterMs?: number,
    ticket?: Ticket & { readonly endMs?: number },
  ): void {
    const c = this.c;
    const startMs = ticket?.startMs ?? now;
    this.tick(now);
    // Decrease before a Retry-After pause starts: the send rate is measured up to now, not across it.
    // One decrease per congestion event (TCP: per round trip): a throttle on a request sent before the
    // last decrease is the same event.
    const decrease = event === "throttled" && startMs >= this.lastDecreaseMs;
    if (decrease) this.decrease(now);
    if (retryAfterMs !== undefined && retryAfterMs > 0) this.pause(now, now + retryAfterMs, "retry-after");
    this.acceptEwma += ((event === "throttled" ? 0 : 1) - this.acceptEwma) / ACCEPT_SPAN;
    if ((event === "success" || event === "timeout") && ticket?.endMs !== undefined) {
      const served = this.lw.sample(ticket.endMs - startMs, ticket.endMs);
      if (served !== undefined)
        this.capacityEst = Number.isNaN(this.capacityEst)
          ? served
          : this.capacityEst + (served - this.capacityEst) / 4;
    }
    if (event === "success") {
      this.failures = 0;
      this.opens = 0;
      this.pausedTotalMs = 0;
      this.down = false;
      if (this.breakerState === "half-open") {
        // The probe succeeded. Restart gently: one token, no burst.
        this.refill(now);
        this.tokens = Math.min(this.tokens, 1);
        this.breakerState = "closed";
      } else if (this.breakerState === "open") {
        // A request sent before the pause came back fine: the pause stays, but no probe is needed.
        this.breakerState = "closed";
      }
      return;
    }
    this.failures++;
    if (this.breakerState === "half-open") this.openBreaker(now);
    else if (this.breakerState === "closed" && this.failures >= c.breakerFailures) this.openBreaker(now);
    // breaker "open": a request sent before the pause failed late; the pause already covers it.
    if (this.opens >= c.breakerMaxOpens || this.pausedTotalMs >= c.hostDownAfterMs) this.down = true;
  }

  /** Time from a decrease to the rate at that throttle, ms: recoverMs, and at least two round trips. */
  private get recoverTimeMs(): number {
    const srtt = this.lw.srttMs;
    return Math.max(this.c.recoverMs, Number.isNaN(srtt) ? 0 : 2 * srtt);
  }

  /** Bring the rate up along its recovery curve; call before reading it (startDelay/state do). */
  tick(now: number): void {
    if (Number.isNaN(this.wMax) || this.rate >= this.c.ratePerSec) return;
    const c = this.c;
    const t = (now - this.epochMs) / 1000;
    const k = this.recoverTimeMs / 1000;
    const beta = c.decreaseFactor;
    let target: number;
    if (t < k) {
      // Concave part: from beta x W_max back to W_max in K seconds, flattening as it nears it.
      const d = (k - t) / k;
      target = this.wMax * (1 - (1 - beta) * d * d * d);
    } else {
      // Convex part: probe above W_max, 10% after probeMs, growing as the cube of the time.
      const d = (t - k) / (c.probeMs / 1000);
      target = this.wMax * (1 + 0.1 * d * d * d);
    }
    const floor = Math.min(c.minRatePerSec, c.ratePerSec);
    const next = Math.min(c.ratePerSec, Math.max(floor, target));
    if (next > this.rate) this.setRate(now, next);
  }

  /** The host's state at `now`. */
  state(now: number): HostState {
    this.tick(now);
    const paused = this.blockedUntil > now;
    const reason: SlowReason | undefined =
      this.breakerState !== "closed"
        ? "breaker"
        : paused
          ? (this.blockedBy ?? "retry-after")
          : this.rate < this.c.ratePerSec
            ? "throttled"
            : this.window < this.c.concurrency
              ? "queueing"
              : undefined;
    const state = this.down
      ? "down"
      : paused || this.breakerState !== "closed"
        ? "paused"
        : reason !== undefined
          ? "slowed"
          : "ok";
    return {
      state,
      rate: this.rate,
      window: this.window,
      inFlight: this.lw.inFlight,
      ...(Number.isNaN(this.capacityEst) ? {} : { capacity: this.capacityEst }),
      ...(Number.isNaN(this.lw.minRttMs) ? {} : { minRttMs: this.lw.minRttMs }),
      ...(Number.isNaN(this.lw.srttMs) ? {} : { rttMs: this.lw.srttMs }),
      ...(reason === undefined ? {} : { reason }),
      accepted: this.acceptEwma,
      ...(paused ? { pausedUntil: this.blockedUntil } : {}),
      consecutiveFailures: this.failures,
      breaker: this.breakerState,
    };
  }

  // --- rate ---

  /** The send rate is measured over the last second, or 4 round trips when that is longer, ms. */
  private get sendSpanMs(): number {
    const srtt = this.lw.srttMs;
    return Math.max(SEND_SPAN_MS, Number.isNaN(srtt) ? 0 : 4 * srtt);
  }

  /** The send rate over the last second (or 4 round trips), after the last pause, req/s; NaN if unknown. */
  private sendRate(now: number): number {
    const span = this.sendSpanMs;
    const from = Math.max(now - span, this.pauseEndMs);
    let n = 0;
    let first = now;
    let lastStart = Number.NEGATIVE_INFINITY;
    for (const t of this.sends) {
      if (t >= from) {
        n++;
        if (t < first) first = t;
        if (t > lastStart) lastStart = t;
      }
    }
    // Fewer than 3 starts since the pause say little; the allowed rate stands in.
    if (n < 3 || !(lastStart > first)) return Number.NaN;
    // n - 1 intervals from the first start to the last. Counting the time since the last start too
    // (the answer's latency) read 10% low, and 0.7 x that after every throttle ratcheted the rate down
    // under random 429s (real time: 20 -> 2 req/s in a minute).
    return (n - 1) / ((lastStart - first) / 1000);
  }

  private decrease(now: number): void {
    const c = this.c;
    const measured = this.sendRate(now);
    // The server saw what was sent, not what was allowed (a window-bound host sends less): decrease from
    // that. But when nothing waited for a token or a slot lately, the host sent all it had (its tasks were
    // backing off): that rate says what the caller wanted, not what the server takes (BBR's app-limited
    // samples). Decreasing from it would ratchet the rate down to the lull's level under random throttles.
    const span = this.sendSpanMs;
    const appLimited = this.boundAtMs < now - span;
    const sent = Number.isNaN(measured) || appLimited ? this.rate : Math.min(this.rate, measured);
    // RFC 9438 fast convergence: a throttle at or below the last W_max, after the rate had grown back
    // to it, says that rate was not safe (a bursty token bucket lets a rate a little above its own
    // pass for seconds): the plateau goes below it. Only while throttles are rare (Google SRE's
    // accepted/attempted ratio): when they come every few dozen requests whatever the rate (random
    // 429s, a Retry-After storm), lowering the plateau on each would ratchet the rate down for ever
    // (simulated fault mix: 3.2x its Retry-After pauses instead of 2.3x); their pauses slow vocut down.
    const plateauUnsafe =
      !Number.isNaN(this.wMax) &&
      now - this.epochMs >= this.recoverTimeMs &&
      sent <= this.wMax * 1.02 &&
      this.acceptEwma >= RARE_THROTTLES;
    this.wMax = plateauUnsafe ? (sent * (1 + c.decreaseFactor)) / 2 : sent;
    this.capacityEst = this.wMax;
    this.epochMs = now;
    this.lastDecreaseMs = now;
    const floor = Math.min(c.minRatePerSec, c.ratePerSec);
    this.setRate(now, Math.max(floor, sent * c.decreaseFactor));
  }

  private setRate(now: number, rate: number): void {
    const c = this.c;
    this.refill(now);
    this.rate = rate;
    // A slowed host also loses burst in proportion: no volley to a server that said 429.
    this.size = rate >= c.ratePerSec ? c.burst : Math.max(1, Math.floor((c.burst * rate) / c.ratePerSec));
    this.tokens = Math.min(this.tokens, this.capacity);
  }

  private get capacity(): number {
    return Math.max(this.size, this.rate * TICK_SLACK_S);
  }

  /** Add the tokens earned since the last refill (a pause moved `last` to its end: none during it). */
  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.rate);
      this.last = now;
    }
  }

  /** Hold every request until `untilMs`; at its end at most one token is ready (no burst after a pause). */
  private pause(now: number, untilMs: number, by: "retry-after" | "breaker"): void {
    const from = Math.max(now, this.blockedUntil);
    if (untilMs > from) this.pausedTotalMs += untilMs - from;
    if (untilMs > this.blockedUntil) {
      this.refill(now);
      const start = Math.max(this.last, now);
      if (untilMs > start) {
        this.tokens = Math.min(1, this.tokens + ((untilMs - start) / 1000) * this.rate);
        this.last = untilMs;
      }
      this.blockedUntil = untilMs;
      this.blockedBy = by;
      this.pauseEndMs = untilMs;
    }
  }

  private openBreaker(now: number): void {
    this.opens++;
    this.pause(now, now + this.c.breakerPauseMs, "breaker");
    this.breakerState = "open";
  }
}
