import { DEFAULTS } from "../defaults.js";
import type { PacerConfig } from "../pacer-config.js";
import { queueingServer, type ServerModel, tokenBucketServer } from "./servers.js";
import type { ClientOptions } from "./simulate.js";

/** One row of the simulator's table: a server model and how vocut is told to use it. */
export interface Scenario {
  /** Short name (table row). */
  readonly name: string;
  /** What vocut is told, as on the command line. */
  readonly told: string;
  /** A fresh server (models keep state). */
  readonly server: () => ServerModel;
  readonly client: ClientOptions;
  /** Moment after which the time to recover is measured (end of an outage or storm), ms. */
  readonly recoverFromMs?: number;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The outage starts at 17 min 13 s: not in phase with the breaker's 60 s pauses. */
const OUTAGE_FROM = 1_033_000;

/** The pacer settings the CLI would use with `--rate rate --concurrency concurrency`. */
export function cliPacer(ratePerSec: number, concurrency: number, burst = 1): PacerConfig {
  return { ...DEFAULTS.pacer, ratePerSec, concurrency, burst };
}

function client(
  ratePerSec: number,
  concurrency: number,
  tasks: number,
  durationMs: number,
  seed: number,
): ClientOptions {
  return {
    pacer: cliPacer(ratePerSec, concurrency),
    tasks,
    durationMs,
    timeoutMs: DEFAULTS.timeoutMs,
    backoffBaseMs: DEFAULTS.backoffBaseMs,
    backoffCapMs: DEFAULTS.backoffCapMs,
    seed,
  };
}

/** Faults unrelated to load, 13% of answers (500 without Retry-After, resets, truncation, HTML-200). */
const FAULTS_13 = { fault: 0.13 };

/** The 40 req/s token bucket of the issue: burst 10, 429 + Retry-After 1 beyond, 50 ms latency. */
export const bucket40 = (faults = FAULTS_13): ServerModel =>
  tokenBucketServer({ ratePerSec: 40, burst: 10, latencyMs: 50, retryAfterMs: 1_000, faults });

/** The queueing server: 4 workers x 50 ms = 80 req/s, no 429s. */
export const queue80 = (): ServerModel => queueingServer({ workers: 4, serviceMs: 50 });

/** The fault mix of the chaos soak: 10% throttles with Retry-After, resets, truncation, HTML-200, stalls. */
export const FAULT_MIX = {
  fault: 0.1,
  stall: 0.02,
  throttle429: { p: 0.05, retryAfterMs: 1_000 },
  throttle503: { p: 0.05, retryAfterMs: 2_000 },
};

/** Every scenario of the README's table; `scale` < 1 shortens the long ones (tests). */
export function scenarios(scale = 1): Scenario[] {
  const week = 7 * DAY * scale;
  return [
    {
      name: "token bucket 40/s, 13% faults",
      told: "--rate 40 --concurrency 8",
      server: () => bucket40(),
      client: client(40, 8, Number.POSITIVE_INFINITY, 6 * HOUR * scale, 1),
    },
    {
      name: "token bucket 40/s, 13% faults",
      told: "--rate 120 --concurrency 8",
      server: () => bucket40(),
      client: client(120, 8, Number.POSITIVE_INFINITY, 6 * HOUR * scale, 2),
    },
    {
      name: "queueing 4 x 50 ms (80/s)",
      told: "--rate 200 --concurrency 16",
      server: queue80,
      client: client(200, 16, Number.POSITIVE_INFINITY, 6 * HOUR * scale, 3),
    },
    {
      name: "diurnal: 2 of 4 workers busy 3 h of every 6 h",
      told: "--rate 200 --concurrency 16",
      server: () =>
        queueingServer({
          workers: 4,
          serviceMs: 50,
          workersAt: (t) => ((t % (6 * HOUR)) / HOUR >= 3 ? 2 : 4),
          name: "queueing, diurnal",
        }),
      // 3M tasks: about 13 h at 80 and 40 req/s.
      client: client(200, 16, Math.round(3_000_000 * scale), week, 4),
    },
    {
      name: "2 h outage (connections refused)",
      told: "--rate 200 --concurrency 16",
      server: () =>
        queueingServer({
          workers: 4,
          serviceMs: 50,
          down: (t) => t >= OUTAGE_FROM && t < OUTAGE_FROM + 2 * HOUR,
          name: "queueing, outage",
        }),
      client: client(200, 16, Number.POSITIVE_INFINITY, OUTAGE_FROM + 2.5 * HOUR, 5),
      recoverFromMs: OUTAGE_FROM + 2 * HOUR,
    },
    {
      name: "10% random faults, 3M tasks",
      told: "defaults (--rate 5 --concurrency 4)",
      server: () =>
        queueingServer({ workers: 8, serviceMs: 100, faults: { fault: 0.1 }, name: "queueing, 10% faults" }),
      client: client(5, 4, Math.round(3_000_000 * scale), week * 1.5, 6),
    },
    {
      name: "Retry-After storms: 5 min/h of 503 + RA 30",
      told: "--rate 120 --concurrency 8",
      server: () => {
        const inStorm = (t: number): boolean => t % HOUR >= 30 * 60_000 && t % HOUR < 35 * 60_000;
        const base = bucket40({ fault: 0.03 });
        return {
          name: "storms",
          capacityAt: (t) => (inStorm(t) ? 0 : 40),
          answer: (t, random) =>
            inStorm(t) && random() < 0.8
              ? { kind: "throttled", durationMs: 50, retryAfterMs: 30_000 }
              : base.answer(t, random),
        };
      },
      client: client(120, 8, Number.POSITIVE_INFINITY, 6 * HOUR * scale, 7),
      recoverFromMs: 35 * 60_000,
    },
    {
      name: "fault mix: 10% throttles + faults, 500 tasks",
      told: "--rate 1000 --concurrency 4",
      server: () =>
        queueingServer({ workers: 16, serviceMs: 50, faults: FAULT_MIX, name: "queueing, fault mix" }),
      client: { ...client(1000, 4, 500, HOUR, 8), timeoutMs: 2_000 },
    },
  ];
}
