/**
 * The settings of one host's request controller (src/fetch/host-controller.ts) and their range check.
 */

/** Settings of one host's controller; every value and its default is in DEFAULTS (src/fetch/defaults.ts). */
export interface PacerConfig {
  /** Ceiling on requests in flight per host, whole number >= 1 (--concurrency). */
  readonly concurrency: number;
  /** Ceiling on the request rate, req/s per host (--rate). */
  readonly ratePerSec: number;
  /** Token-bucket size per host at the ceiling rate (shrinks in proportion while slowed). */
  readonly burst: number;
  /** On a throttle the rate becomes this fraction of the measured send rate, in (0, 1] (CUBIC beta). */
  readonly decreaseFactor: number;
  /** The lowest rate a throttled host is slowed to, req/s (the ceiling if that is lower). */
  readonly minRatePerSec: number;
  /** Time after a throttle to grow back to the rate at the throttle, ms (CUBIC K). */
  readonly recoverMs: number;
  /** Time after reaching that rate to probe 10% above it, ms (then faster: 80% after twice that). */
  readonly probeMs: number;
  /** The window grows while fewer requests than this wait in the server's queue (Vegas alpha). */
  readonly queueLow: number;
  /** The window shrinks when more requests than this wait in the server's queue (Vegas beta). */
  readonly queueHigh: number;
  /** The no-load latency is re-measured (window halved for one round) when older than this, ms. */
  readonly minRttTtlMs: number;
  /** Consecutive failures (incl. throttles) that open the circuit breaker. */
  readonly breakerFailures: number;
  /** Pause of an open breaker before its probe request, ms. */
  readonly breakerPauseMs: number;
  /** Breaker openings without a success before the host is given up. */
  readonly breakerMaxOpens: number;
  /** Total pause (breaker + Retry-After) without a success before the host is given up, ms. */
  readonly hostDownAfterMs: number;
}

function check(ok: boolean, what: string, value: number): void {
  if (!ok) throw new TypeError(`${what}, got ${value}`);
}

/** Throws TypeError naming the first setting of `c` out of range. */
export function checkPacerConfig(c: PacerConfig): void {
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
  check(c.decreaseFactor > 0 && c.decreaseFactor <= 1, "decreaseFactor must be in (0, 1]", c.decreaseFactor);
  check(c.minRatePerSec > 0, "minRatePerSec must be > 0", c.minRatePerSec);
  check(
    c.recoverMs > 0 && Number.isFinite(c.recoverMs),
    "recoverMs must be a finite number > 0",
    c.recoverMs,
  );
  check(c.probeMs > 0 && Number.isFinite(c.probeMs), "probeMs must be a finite number > 0", c.probeMs);
  check(c.queueLow >= 0, "queueLow must be >= 0", c.queueLow);
  check(c.queueHigh >= c.queueLow, "queueHigh must be >= queueLow", c.queueHigh);
  check(c.minRttTtlMs > 0, "minRttTtlMs must be > 0", c.minRttTtlMs);
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
}
