/**
 * The window half of a host's controller (TCP Vegas, Netflix Gradient2): how many requests may be in
 * flight, from the latency. The no-load latency is the lowest round trip seen; each round (one round
 * trip) estimates the server's queue as meanInFlight x (1 - minRtt / rtt) from the median sample. The
 * window grows by one per round while fewer than `queueLow` requests wait and the window was the bound,
 * and drops towards the part that does not queue when more than `queueHigh` wait. A no-load latency older
 * than `minRttTtlMs` is re-measured with the window halved for two rounds (BBR's ProbeRTT).
 *
 * Synchronous and clock-free like HostController, which owns one and asks it `window` before a start.
 */

import type { PacerConfig } from "./pacer-config.js";

/** The settings the window reads. */
export type WindowConfig = Pick<PacerConfig, "concurrency" | "queueLow" | "queueHigh" | "minRttTtlMs">;

/** Latency samples kept per round for its median (more are thinned). */
const ROUND_SAMPLES = 256;
/**
 * Latency samples a round needs before it decides: with fewer, one stalled request could be the median
 * (seen in the chaos soak: the window fell to 1 behind each 2 s stall).
 */
const MIN_ROUND_SAMPLES = 4;

export class LatencyWindow {
  private readonly c: WindowConfig;
  private win: number;
  private inFlightN = 0;
  private minRtt = Number.NaN;
  private minRttAtMs = 0;
  private srtt = Number.NaN;
  private roundStartMs: number;
  private roundArea = 0;
  private areaAtMs: number;
  private roundMaxInFlight = 0;
  private roundSamples: number[] = [];
  private roundCompleted = 0;
  /** Re-measuring the no-load latency: window halved until a request sent after this ends. */
  private probeRttFromMs: number | undefined;
  private probeRttMin = Number.POSITIVE_INFINITY;
  private probeRttRounds = 0;

  /** `nowMs`: the clock when the host is first seen. The window starts at the ceiling. */
  constructor(config: WindowConfig, nowMs: number) {
    this.c = config;
    this.win = config.concurrency;
    this.roundStartMs = nowMs;
    this.areaAtMs = nowMs;
  }

  /** Requests in flight. */
  get inFlight(): number {
    return this.inFlightN;
  }

  /** Requests allowed in flight now (halved while the no-load latency is re-measured). */
  get window(): number {
    return this.probeRttFromMs === undefined ? this.win : Math.max(1, Math.floor(this.win / 2));
  }

  /** Lowest round trip seen, ms; NaN before any sample. */
  get minRttMs(): number {
    return this.minRtt;
  }

  /** Smoothed round trip, ms; NaN before any sample. */
  get srttMs(): number {
    return this.srtt;
  }

  /** A request started at `now`. */
  started(now: number): void {
    this.accrue(now);
    this.inFlightN++;
    if (this.inFlightN > this.roundMaxInFlight) this.roundMaxInFlight = this.inFlightN;
  }

  /** A request ended at `now`. */
  ended(now: number): void {
    this.accrue(now);
    this.inFlightN = Math.max(0, this.inFlightN - 1);
  }

  /**
   * One latency sample `rttMs` of a request that ended at `endMs`; closes the round once a round trip
   * passed. Returns the rate the server completed requests at (req/s) when that round found it
   * saturated (its queue at least `queueLow`): what it can take. Otherwise undefined.
   */
  sample(rttMs: number, endMs: number): number | undefined {
    if (!(rttMs >= 0)) return undefined;
    this.srtt = Number.isNaN(this.srtt) ? rttMs : this.srtt + (rttMs - this.srtt) / 8;
    if (Number.isNaN(this.minRtt) || rttMs <= this.minRtt) {
      this.minRtt = rttMs;
      this.minRttAtMs = endMs;
    }
    if (this.probeRttFromMs !== undefined && endMs - rttMs >= this.probeRttFromMs)
      this.probeRttMin = Math.min(this.probeRttMin, rttMs);
    this.roundCompleted++;
    if (this.roundSamples.length < ROUND_SAMPLES) this.roundSamples.push(rttMs);
    else this.roundSamples[this.roundCompleted % ROUND_SAMPLES] = rttMs;
    // A round is one round trip: it ends with the first sample of a request sent after it began, once
    // it holds enough samples that one stall (a fault) cannot be its median.
    if (endMs - rttMs >= this.roundStartMs && this.roundCompleted >= MIN_ROUND_SAMPLES)
      return this.endRound(endMs);
    return undefined;
  }

  /** Integrate requests in flight over time (for the round's mean in flight). */
  private accrue(now: number): void {
    if (now > this.areaAtMs) {
      this.roundArea += this.inFlightN * (now - this.areaAtMs);
      this.areaAtMs = now;
    }
  }

  private endRound(now: number): number | undefined {
    const c = this.c;
    this.accrue(now);
    const durMs = now - this.roundStartMs;
    const samples = this.roundSamples.sort((a, b) => a - b);
    // The median: one stalled request (a fault) says nothing; most requests slowing down is queueing.
    const rtt = samples[Math.floor((samples.length - 1) / 2)] ?? Number.NaN;
    const meanInFlight = durMs > 0 ? this.roundArea / durMs : this.inFlightN;
    const completedPerSec = durMs > 0 ? (this.roundCompleted * 1000) / durMs : Number.NaN;
    const windowBound = this.roundMaxInFlight >= this.window;
    this.roundStartMs = now;
    this.roundArea = 0;
    this.roundMaxInFlight = this.inFlightN;
    this.roundSamples = [];
    this.roundCompleted = 0;
    if (this.probeRttFromMs !== undefined) {
      // The window was halved for a round trip: the server's queue drained, and the lowest sample is
      // the no-load latency now (even if higher than the old one: the server may have slowed down).
      if (++this.probeRttRounds >= 2) {
        if (Number.isFinite(this.probeRttMin)) this.minRtt = this.probeRttMin;
        this.minRttAtMs = now;
        this.probeRttFromMs = undefined;
      }
      return undefined;
    }
    if (!(rtt > 0) || Number.isNaN(this.minRtt)) return undefined;
    if (now - this.minRttAtMs > c.minRttTtlMs) {
      // BBR's ProbeRTT: a queue we keep ourselves would hide the no-load latency for ever.
      this.probeRttFromMs = now;
      this.probeRttMin = Number.POSITIVE_INFINITY;
      this.probeRttRounds = 0;
      return undefined;
    }
    const queued = meanInFlight * Math.max(0, 1 - this.minRtt / rtt);
    if (queued > c.queueHigh) {
      // Down to the part that does not queue plus the allowance, at most halving per round trip.
      const target = Math.floor(meanInFlight * (this.minRtt / rtt) + c.queueLow);
      this.win = Math.max(1, Math.min(this.win - 1, Math.max(target, Math.ceil(this.win / 2))));
    } else if (queued < c.queueLow && windowBound && this.win < c.concurrency) {
      this.win++;
    }
    // The server is saturated: what it completes is what it can take.
    const saturated = queued >= c.queueLow && Number.isFinite(completedPerSec) && completedPerSec > 0;
    return saturated ? completedPerSec : undefined;
  }
}
