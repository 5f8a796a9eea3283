import { abortError, type Clock } from "./clock.js";
import { THROTTLE_STATUSES } from "./defaults.js";
import { HostController, type HostEvent, type HostState, type Ticket } from "./host-controller.js";
import { checkPacerConfig, type PacerConfig } from "./pacer-config.js";

export type { HostEvent, HostState, SlowReason } from "./host-controller.js";
export type { PacerConfig } from "./pacer-config.js";

interface Waiter {
  /** Start the request; false (and the caller told AbortError) if its signal aborted meanwhile. */
  readonly start: () => boolean;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

interface Host {
  readonly ctrl: HostController;
  readonly queue: Waiter[];
  /** Requests that ended and await their report(), oldest first, with when they ended. */
  readonly ended: Array<Ticket & { readonly endMs: number }>;
  /** Cancels the one pending wake-up (for the head of the queue). */
  wake: AbortController | undefined;
  wakeAt: number;
}

/** Ended requests kept for their report(); callers that stop without reporting cannot grow it further. */
const MAX_UNREPORTED = 1024;

/**
 * Per-host politeness, asynchronous: a FIFO of requests per host in front of that host's
 * HostController (src/fetch/host-controller.ts), which decides when each may start (rate, window,
 * Retry-After, circuit breaker) and adapts rate and window below the --rate and --concurrency ceilings.
 * The pacer times every request it runs on the injected clock (start to settle of `fn`) and hands that
 * latency to the controller with the caller's report.
 *
 * Contract: call `report()` once per request that `schedule()` started, after it settles; reports are
 * matched to ended requests oldest first (two requests of one host ending close together may swap
 * latency samples, which the controller only uses in aggregate). A breaker probe left without a report
 * in the tick it ends in is taken as inconclusive and the next request probes.
 */
export class HostPacer {
  private readonly hosts = new Map<string, Host>();
  private readonly config: PacerConfig;
  private readonly clock: Clock;

  /** Throws TypeError naming the first setting out of range. */
  constructor(config: PacerConfig, clock: Clock) {
    checkPacerConfig(config);
    this.config = config;
    this.clock = clock;
  }

  private host(name: string): Host {
    let h = this.hosts.get(name);
    if (h === undefined) {
      h = {
        ctrl: new HostController(this.config, this.clock.now()),
        queue: [],
        ended: [],
        wake: undefined,
        wakeAt: 0,
      };
      this.hosts.set(name, h);
    }
    return h;
  }

  /** The controller that paces `host` (created on first use): what the simulator drives too. */
  controller(host: string): HostController {
    return this.host(host).ctrl;
  }

  /**
   * Run `fn` once `host`'s controller lets a request start (window slot, token, no pause, no probe
   * awaiting its verdict); requests to one host start in the order they were scheduled. Rejects with an
   * AbortError if `signal` aborts before `fn` starts; once started, `fn` runs to completion and its
   * result or error is passed through.
   */
  schedule<T>(host: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const h = this.host(host);
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        signal,
        onAbort: () => {
          const i = h.queue.indexOf(waiter);
          if (i < 0) return;
          h.queue.splice(i, 1);
          reject(abortError(signal));
          if (h.queue.length === 0) {
            // Nobody waits any more (a run stopping): drop the wake-up, or its timer would keep the
            // process alive until a long pause (Retry-After: 3600) ends.
            h.wake?.abort();
            h.wake = undefined;
          } else if (i === 0) this.pump(h);
        },
        start: () => {
          signal?.removeEventListener("abort", waiter.onAbort);
          // Aborted while a neighbour's abort pumped the queue: its own listener has not run yet, and the
          // caller will be told "not started", so it must not start (a repeated request next run).
          if (signal?.aborted) {
            reject(abortError(signal));
            return false;
          }
          const ticket = h.ctrl.start(this.clock.now());
          let p: Promise<T>;
          try {
            p = fn();
          } catch (err) {
            p = Promise.reject(err);
          }
          p.then(
            (v) => {
              this.ended(h, ticket);
              resolve(v);
            },
            (err: unknown) => {
              this.ended(h, ticket);
              reject(err);
            },
          );
          return true;
        },
      };
      h.queue.push(waiter);
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.pump(h);
    });
  }

  private ended(h: Host, ticket: Ticket): void {
    const endMs = this.clock.now();
    h.ctrl.finish(ticket, endMs);
    h.ended.push({ ...ticket, endMs });
    if (h.ended.length > MAX_UNREPORTED) h.ended.shift();
    if (ticket.probe)
      // Give the caller's report() its turn; a probe nobody reported on is inconclusive.
      setImmediate(() => {
        const i = h.ended.findIndex((e) => e.startMs === ticket.startMs && e.probe);
        if (i >= 0 && h.ctrl.breaker === "half-open") {
          h.ended.splice(i, 1);
          h.ctrl.probeUnreported();
          this.pump(h);
        }
      });
    // The caller reports what the answer came to (a 503 and its Retry-After) as soon as schedule()
    // resolves, and report() pumps. Starting the next request here, before that turn, sent one more
    // request to a host whose pause was not known yet (seen under load: a second request right after a
    // 503 with Retry-After: 60). The deferred pump (on the clock, so virtual time runs it in order)
    // serves callers that never report (an aborted request).
    void this.clock.sleep(0).then(() => this.pump(h));
  }

  /** Start every waiter the controller admits now, then arm one wake-up for the next. */
  private pump(h: Host): void {
    for (;;) {
      const head = h.queue[0];
      if (head === undefined) return;
      const now = this.clock.now();
      const delay = h.ctrl.startDelay(now);
      if (delay === Number.POSITIVE_INFINITY) return; // a finish or report pumps again
      if (delay > 0) {
        // An idle or already-early-enough wake-up is left to fire harmlessly: aborting one costs an
        // AbortError with a stack trace (profiled: ~75 us per request at 700 req/s).
        if (h.wake !== undefined && h.wakeAt <= now + delay) return;
        h.wake?.abort();
        const wake = new AbortController();
        h.wake = wake;
        h.wakeAt = now + delay;
        this.clock.sleep(delay, wake.signal).then(
          () => {
            if (h.wake === wake) {
              h.wake = undefined;
              this.pump(h);
            }
          },
          () => {
            // cancelled: a newer wake-up replaced this one
          },
        );
        return;
      }
      h.queue.shift();
      head.start();
    }
  }

  /**
   * Tell the pacer how a request to `host` went (see HostEvent): "success", "throttled" (429/503),
   * "failure" (a fault unrelated to load) or "timeout". `retryAfterMs` (ms from now, from Retry-After)
   * holds the whole host that long.
   */
  report(host: string, event: HostEvent, retryAfterMs?: number): void {
    const h = this.host(host);
    const ticket = h.ended.shift();
    h.ctrl.report(this.clock.now(), event, retryAfterMs, ticket);
    // A wake-up armed earlier than a new pause ends just finds nothing to start and re-arms.
    this.pump(h);
  }

  /** True once the host has had `breakerMaxOpens` breaker openings or `hostDownAfterMs` of pauses with no success. */
  isHostDown(host: string): boolean {
    return this.hosts.get(host)?.ctrl.isDown === true;
  }

  /** The host's current state (a host never seen is "ok" at the ceilings). */
  hostState(host: string): HostState {
    const h = this.hosts.get(host);
    if (h === undefined)
      return {
        state: "ok",
        rate: this.config.ratePerSec,
        window: this.config.concurrency,
        inFlight: 0,
        accepted: 1,
        consecutiveFailures: 0,
        breaker: "closed",
      };
    return h.ctrl.state(this.clock.now());
  }

  /** Every host's state, for the ledger heartbeat, `status` and `--json`. */
  snapshot(): Record<string, HostState> {
    const out: Record<string, HostState> = {};
    for (const name of this.hosts.keys()) out[name] = this.hostState(name);
    return out;
  }
}

/**
 * The HostEvent of a request that did not succeed: "throttled" for THROTTLE_STATUSES (429, 503: load),
 * "timeout" for the TIMEOUT error code, otherwise "failure" (a fault unrelated to load). One definition
 * for the task loop and the shared fetcher.
 */
export function failureEvent(status: number | undefined, code: string | undefined): HostEvent {
  if (status !== undefined && THROTTLE_STATUSES.has(status)) return "throttled";
  return code === "TIMEOUT" ? "timeout" : "failure";
}
