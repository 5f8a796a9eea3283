/**
 * Server models for the simulator (simulate.ts): what a server does with each request (token bucket,
 * queueing workers, a fault mix), and the seeded random source everything random comes from.
 */

/** What a server model does with one request. */
export interface Answer {
  /** "ok": served; "throttled": 429/503; "fault": 500, reset, truncated, HTML-200; "stall": never answers. */
  readonly kind: "ok" | "throttled" | "fault" | "stall";
  /** Time from the send to the end of the answer, ms (ignored for "stall"). */
  readonly durationMs: number;
  /** Retry-After of the answer, ms. */
  readonly retryAfterMs?: number;
  /** The connection was refused (an outage): the server did no work for it. */
  readonly refused?: boolean;
  /** Time the request waited in the server's queue, ms (queueing models). */
  readonly queueMs?: number;
}

/** A server: answers a request sent at `nowMs`; called in time order. */
export interface ServerModel {
  /** Short name for tables. */
  readonly name: string;
  answer(nowMs: number, random: () => number): Answer;
  /** Requests per second the server can take at `nowMs` (for the fraction of capacity used). */
  capacityAt(nowMs: number): number;
  /** Service time of one request at `nowMs`, ms (for the queue in service times), when it has one. */
  readonly serviceMs?: number;
}

/** mulberry32: a small seeded PRNG, uniform in [0, 1) (tests replay their random cases from its seed too). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Load-unrelated faults mixed into a model's answers: each a probability per request. */
export interface FaultMix {
  /** 500 without Retry-After, reset, truncated body, HTML with 200: retried, not a load signal. */
  readonly fault?: number;
  /** No answer until the client's timeout. */
  readonly stall?: number;
  /** 429 with this Retry-After (ms), unrelated to load. */
  readonly throttle429?: { readonly p: number; readonly retryAfterMs: number };
  /** 503 with this Retry-After (ms), unrelated to load. */
  readonly throttle503?: { readonly p: number; readonly retryAfterMs: number };
}

/** Apply `mix` to a request: a fault answer, or undefined to let the model answer. */
function faultOf(mix: FaultMix, latencyMs: number, random: () => number): Answer | undefined {
  let u = random();
  const take = (p: number | undefined): boolean => {
    if (p === undefined) return false;
    if (u < p) return true;
    u -= p;
    return false;
  };
  if (take(mix.fault)) return { kind: "fault", durationMs: latencyMs * random() };
  if (take(mix.stall)) return { kind: "stall", durationMs: 0 };
  if (mix.throttle429 !== undefined && take(mix.throttle429.p))
    return { kind: "throttled", durationMs: latencyMs, retryAfterMs: mix.throttle429.retryAfterMs };
  if (mix.throttle503 !== undefined && take(mix.throttle503.p))
    return { kind: "throttled", durationMs: latencyMs, retryAfterMs: mix.throttle503.retryAfterMs };
  return undefined;
}

/**
 * A token-bucket server: `ratePerSec` (burst `burst`) accepted, beyond it 429 with Retry-After
 * `retryAfterMs`; every answer takes `latencyMs`. `faults` are applied to accepted requests.
 */
export function tokenBucketServer(opts: {
  ratePerSec: number;
  burst: number;
  latencyMs: number;
  retryAfterMs: number;
  faults?: FaultMix;
  /** Rate as a function of time (ms), default constant. */
  rateAt?: (nowMs: number) => number;
  name?: string;
}): ServerModel {
  let tokens = opts.burst;
  let last = 0;
  const rateAt = opts.rateAt ?? (() => opts.ratePerSec);
  return {
    name: opts.name ?? `token bucket ${opts.ratePerSec}/s`,
    capacityAt: rateAt,
    answer(now, random) {
      const rate = rateAt(now);
      tokens = Math.min(opts.burst, tokens + ((now - last) / 1000) * rate);
      last = now;
      if (tokens < 1)
        return { kind: "throttled", durationMs: opts.latencyMs, retryAfterMs: opts.retryAfterMs };
      tokens -= 1;
      return (
        (opts.faults && faultOf(opts.faults, opts.latencyMs, random)) ?? {
          kind: "ok",
          durationMs: opts.latencyMs,
        }
      );
    },
  };
}

/**
 * A server of finite capacity that queues instead of refusing: `workers(t)` workers (FIFO queue in
 * front), each busy `serviceMs` per request (times (0.8..1.2) at random), plus `latencyMs` of network.
 * `down(t)`: connections are refused then (an outage). `faults` come on top.
 */
export function queueingServer(opts: {
  workers: number;
  serviceMs: number;
  latencyMs?: number;
  workersAt?: (nowMs: number) => number;
  down?: (nowMs: number) => boolean;
  faults?: FaultMix;
  name?: string;
}): ServerModel {
  const free = new Float64Array(opts.workers);
  const workersAt = opts.workersAt ?? (() => opts.workers);
  const latency = opts.latencyMs ?? 1;
  return {
    name: opts.name ?? `queueing ${opts.workers} x ${opts.serviceMs} ms`,
    serviceMs: opts.serviceMs,
    capacityAt: (now) => (opts.down?.(now) === true ? 0 : (workersAt(now) * 1000) / opts.serviceMs),
    answer(now, random) {
      if (opts.down?.(now) === true) return { kind: "fault", durationMs: latency, refused: true };
      const f = opts.faults && faultOf(opts.faults, opts.serviceMs, random);
      if (f !== undefined) return f;
      const arrive = now + latency / 2;
      const m = Math.max(1, Math.min(opts.workers, workersAt(now)));
      let w = 0;
      for (let i = 1; i < m; i++) if ((free[i] as number) < (free[w] as number)) w = i;
      const begin = Math.max(arrive, free[w] as number);
      const end = begin + opts.serviceMs * (0.8 + 0.4 * random());
      free[w] = end;
      return { kind: "ok", durationMs: end + latency / 2 - now, queueMs: begin - arrive };
    },
  };
}
