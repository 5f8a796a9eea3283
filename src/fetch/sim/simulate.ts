import { HostController, type HostEvent, type Ticket } from "../host-controller.js";
import type { PacerConfig } from "../pacer-config.js";
import { type Answer, type ServerModel, seededRandom } from "./servers.js";

/**
 * A deterministic discrete-event simulator of one vocut host against a server model, in simulated
 * time: the same HostController the CLI's HostPacer uses, a pool of tasks retried as the task loop
 * retries them (full-jitter backoff, never sooner than Retry-After), and a server that answers each
 * request. A week of a 3M-request job runs in seconds; everything random comes from one seed.
 */

/** How the client is run: the ceilings and the task loop's knobs. */
export interface ClientOptions {
  /** The controller's settings (ceilings incl.). */
  readonly pacer: PacerConfig;
  /** Tasks to finish (the run ends when all are done), or Infinity to run for `durationMs`. */
  readonly tasks: number;
  /** Simulated time limit, ms. */
  readonly durationMs: number;
  /** Client timeout per request, ms (a stall ends then). */
  readonly timeoutMs: number;
  /** Backoff base and cap, ms (the task loop's full jitter). */
  readonly backoffBaseMs: number;
  readonly backoffCapMs: number;
  /** Seed of the run's randomness. */
  readonly seed: number;
}

/** What a simulated run measured. */
export interface SimResult {
  /** Simulated time until the last task was done (or the limit), ms. */
  readonly elapsedMs: number;
  readonly tasksDone: number;
  readonly requests: number;
  /** Requests the server accepted (all but throttles and refused connections) / its capacity (at most --rate): 0..1. */
  readonly capacityUsed: number;
  /** Throttled answers (429/503) / requests. */
  readonly throttledFraction: number;
  /** Median and 90th percentile wait in the server's queue, ms. */
  readonly queueP50Ms: number;
  readonly queueP90Ms: number;
  /** Lowest capacity used over any 10 s window after the first, 0..1 (windows with no capacity skipped). */
  readonly worst10s: number;
  /** Union of Retry-After pauses, ms. */
  readonly retryAfterPauseMs: number;
  /** Accepted requests per second of simulated time (index = second). */
  readonly acceptedPerSec: Uint32Array;
  /** Capacity per second of simulated time, req/s. */
  readonly capacityPerSec: Float32Array;
  /** Events processed (a measure of the simulator's work). */
  readonly events: number;
}

/** A binary min-heap of timed callbacks; ties fire in the order they were pushed. */
class EventQueue {
  private t: number[] = [];
  private s: number[] = [];
  private f: Array<() => void> = [];
  private seq = 0;
  get size(): number {
    return this.t.length;
  }
  push(at: number, fn: () => void): void {
    let i = this.t.length;
    const seq = this.seq++;
    this.t.push(at);
    this.s.push(seq);
    this.f.push(fn);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.less(p, i)) break;
      this.swap(i, p);
      i = p;
    }
  }
  peekTime(): number {
    return this.t[0] as number;
  }
  pop(): () => void {
    const fn = this.f[0] as () => void;
    const n = this.t.length - 1;
    this.swap(0, n);
    this.t.pop();
    this.s.pop();
    this.f.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(l, m)) m = l;
      if (r < n && this.less(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return fn;
  }
  private less(a: number, b: number): boolean {
    const ta = this.t[a] as number;
    const tb = this.t[b] as number;
    return ta < tb || (ta === tb && (this.s[a] as number) < (this.s[b] as number));
  }
  private swap(a: number, b: number): void {
    [this.t[a], this.t[b]] = [this.t[b] as number, this.t[a] as number];
    [this.s[a], this.s[b]] = [this.s[b] as number, this.s[a] as number];
    [this.f[a], this.f[b]] = [this.f[b] as () => void, this.f[a] as () => void];
  }
}

/** Histogram of waits in 0.5 ms bins up to 60 s, for percentiles without keeping every sample. */
const BIN_MS = 0.5;
const BINS = 120_000;

function percentile(hist: Uint32Array, total: number, q: number): number {
  if (total === 0) return 0;
  const want = q * total;
  let acc = 0;
  for (let i = 0; i < hist.length; i++) {
    acc += hist[i] as number;
    if (acc >= want) return i * BIN_MS;
  }
  return hist.length * BIN_MS;
}

/**
 * Run one simulated job: `client.tasks` tasks against `server`, `2 x concurrency + 2` tasks in hand at
 * once (as the CLI's task loop), until all are done or `client.durationMs` has passed. Deterministic
 * for a given seed. `onTick(nowMs, controller)` is called once per simulated second, if given.
 */
export function simulate(
  server: ServerModel,
  client: ClientOptions,
  onTick?: (nowMs: number, ctrl: HostController) => void,
): SimResult {
  const random = seededRandom(client.seed);
  const ctrl = new HostController(client.pacer, 0);
  const q = new EventQueue();
  const seconds = Math.ceil(client.durationMs / 1000) + 1;
  const acceptedPerSec = new Uint32Array(seconds);
  const capacityPerSec = new Float32Array(seconds);
  const hist = new Uint32Array(BINS);
  let histN = 0;
  let now = 0;
  let requests = 0;
  let throttled = 0;
  let done = 0;
  let started = 0;
  let events = 0;
  let pauseEnd = 0;
  let pauseTotal = 0;
  const waiting: number[] = []; // attempt numbers of tasks waiting for the controller, FIFO
  let waitHead = 0;
  let wakeAt = Number.POSITIVE_INFINITY;
  const hand = 2 * client.pacer.concurrency + 2;
  // What the client may use: the server's capacity, but never more than the --rate ceiling allows.
  const capAt = (t: number): number => Math.min(server.capacityAt(t), client.pacer.ratePerSec);

  const newTask = (): void => {
    if (started >= client.tasks) return;
    started++;
    waiting.push(0);
    pump();
  };

  function pump(): void {
    while (waitHead < waiting.length) {
      const d = ctrl.startDelay(now);
      if (d === Number.POSITIVE_INFINITY) return;
      if (d > 0) {
        const at = now + d;
        if (!(wakeAt > now && wakeAt <= at)) {
          wakeAt = at;
          q.push(at, () => {
            if (wakeAt === at) wakeAt = Number.POSITIVE_INFINITY;
            pump();
          });
        }
        return;
      }
      const attempt = waiting[waitHead++] as number;
      if (waitHead > 4096 && waitHead * 2 > waiting.length) {
        waiting.splice(0, waitHead);
        waitHead = 0;
      }
      send(attempt);
    }
  }

  function send(attempt: number): void {
    const ticket: Ticket = ctrl.start(now);
    requests++;
    const a = server.answer(now, random);
    if (a.queueMs !== undefined) {
      const bin = Math.min(BINS - 1, Math.floor(a.queueMs / BIN_MS));
      hist[bin] = (hist[bin] as number) + 1;
      histN++;
    }
    const dur = a.kind === "stall" ? client.timeoutMs : Math.min(a.durationMs, client.timeoutMs);
    q.push(now + dur, () => end(attempt, ticket, a));
  }

  function end(attempt: number, ticket: Ticket, a: Answer): void {
    ctrl.finish(ticket, now);
    const event: HostEvent =
      a.kind === "ok"
        ? "success"
        : a.kind === "throttled"
          ? "throttled"
          : a.kind === "stall"
            ? "timeout"
            : "failure";
    ctrl.report(now, event, a.retryAfterMs, { ...ticket, endMs: now });
    const sec = Math.floor(now / 1000);
    if (a.kind === "throttled") {
      throttled++;
      const until = now + (a.retryAfterMs ?? 0);
      if (until > pauseEnd) {
        pauseTotal += until - Math.max(now, pauseEnd);
        pauseEnd = until;
      }
    } else if (sec < seconds && a.refused !== true) acceptedPerSec[sec] = (acceptedPerSec[sec] as number) + 1;
    if (a.kind === "ok") {
      done++;
      newTask();
    } else {
      const exp = Math.min(client.backoffCapMs, client.backoffBaseMs * 2 ** Math.min(attempt, 30));
      const wait = Math.max(random() * exp, a.retryAfterMs ?? 0);
      q.push(now + wait, () => {
        waiting.push(attempt + 1);
        pump();
      });
    }
    pump();
  }

  for (let i = 0; i < hand; i++) newTask();
  let nextSecond = 0;
  while (q.size > 0 && done < client.tasks) {
    const at = q.peekTime();
    if (at > client.durationMs) break;
    while (nextSecond * 1000 <= at && nextSecond < seconds) {
      capacityPerSec[nextSecond] = capAt(nextSecond * 1000);
      onTick?.(nextSecond * 1000, ctrl);
      nextSecond++;
    }
    now = at;
    const fn = q.pop();
    events++;
    fn();
  }
  const elapsedMs = done >= client.tasks ? now : client.durationMs;
  const lastSec = Math.min(seconds, Math.ceil(elapsedMs / 1000));
  for (; nextSecond < lastSec; nextSecond++) capacityPerSec[nextSecond] = capAt(nextSecond * 1000);
  // Whole seconds only: the last partial second would count capacity not yet usable.
  const full = Math.floor(elapsedMs / 1000);
  let acc = 0;
  let cap = 0;
  for (let s = 0; s < full; s++) {
    acc += acceptedPerSec[s] as number;
    cap += capacityPerSec[s] as number;
  }
  let worst = Number.POSITIVE_INFINITY;
  let wa = 0;
  let wc = 0;
  for (let s = 0; s < full; s++) {
    wa += acceptedPerSec[s] as number;
    wc += capacityPerSec[s] as number;
    if (s >= 10) {
      wa -= acceptedPerSec[s - 10] as number;
      wc -= capacityPerSec[s - 10] as number;
    }
    // The first 10 s are the start; windows with no capacity (an outage) have nothing to use.
    if (s >= 19 && wc > 0) worst = Math.min(worst, wa / wc);
  }
  return {
    elapsedMs,
    tasksDone: done,
    requests,
    capacityUsed: cap > 0 ? acc / cap : 0,
    throttledFraction: requests > 0 ? throttled / requests : 0,
    queueP50Ms: percentile(hist, histN, 0.5),
    queueP90Ms: percentile(hist, histN, 0.9),
    worst10s: Number.isFinite(worst) ? worst : 1,
    retryAfterPauseMs: pauseTotal,
    acceptedPerSec,
    capacityPerSec,
    events,
  };
}

/**
 * Seconds from `fromMs` until the accepted rate over a trailing 10 s window first reaches `level` of
 * the capacity in it (after an outage or a storm), or Infinity if it never does.
 */
export function recoverySeconds(r: SimResult, fromMs: number, level = 0.9): number {
  const from = Math.ceil(fromMs / 1000);
  let wa = 0;
  let wc = 0;
  for (let s = from; s < r.acceptedPerSec.length; s++) {
    wa += r.acceptedPerSec[s] as number;
    wc += r.capacityPerSec[s] as number;
    if (s - from >= 10) {
      wa -= r.acceptedPerSec[s - 10] as number;
      wc -= r.capacityPerSec[s - 10] as number;
    }
    // The start of the first full 10 s window at the level.
    if (s - from >= 9 && wc > 0 && wa >= level * wc) return s - 9 - from;
  }
  return Number.POSITIVE_INFINITY;
}
