/** How far back the rate looks, in ms: long enough to smooth group syncs, short enough to follow the job. */
export const RATE_WINDOW_MS = 30_000;
/** Shortest span a rate is measured over, in ms: below it there is no rate yet (ETA unknown). */
export const MIN_RATE_SPAN_MS = 1_000;
/** Samples closer together than this are merged (bounded memory at thousands of completions/s). */
const SAMPLE_MS = 250;

/**
 * Tasks settled per second over the recent past, and the time left at that rate. A rate over the last
 * few completions (cli-progress's ETA: its last 10 updates) is infinite when they arrive in the same
 * millisecond, which grouped durable writes make the rule (a group of files is recorded done at once):
 * its ETA read "0s" at 1,033/5,000 done and 188/s. Here the rate is measured from the oldest sample of the
 * last RATE_WINDOW_MS (at least MIN_RATE_SPAN_MS ago) to now, so a burst counts over the time it took
 * to come, and a stall lowers the rate as it goes on. Times in ms from the caller's clock.
 */
export class RecentRate {
  private samples: Array<{ t: number; n: number }> = [];

  /** Begin at time `t` with `n` tasks already settled. */
  start(t: number, n: number): void {
    this.samples = [{ t, n }];
  }

  /** `n` tasks settled by time `t` (n never decreases). */
  record(t: number, n: number): void {
    // The last sample is the moving head; it becomes a kept sample once SAMPLE_MS past the one before.
    const before = this.samples.at(-2);
    if (before !== undefined && t - before.t < SAMPLE_MS) this.samples[this.samples.length - 1] = { t, n };
    else this.samples.push({ t, n });
    // Keep one sample at or before the window's start, so the window stays full.
    while (this.samples.length > 2 && (this.samples[1] as { t: number }).t <= t - RATE_WINDOW_MS)
      this.samples.shift();
  }

  /** Tasks per second at time `now`; undefined until MIN_RATE_SPAN_MS have passed since start. */
  rate(now: number): number | undefined {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (first === undefined || last === undefined) return undefined;
    // Measured from the window's start when the oldest kept sample lies before it.
    const from = Math.max(first.t, now - RATE_WINDOW_MS);
    const span = now - from;
    if (span < MIN_RATE_SPAN_MS) return undefined;
    // The count at `from`, interpolated between the samples around it (the last one if none is after).
    let i = 0;
    while (i + 1 < this.samples.length && (this.samples[i + 1] as { t: number }).t <= from) i++;
    const a = this.samples[i] as { t: number; n: number };
    const b = this.samples[i + 1];
    const base = b === undefined || from <= a.t ? a.n : a.n + ((b.n - a.n) * (from - a.t)) / (b.t - a.t);
    return ((last.n - base) * 1000) / span;
  }

  /** Seconds until `left` more tasks are settled at the current rate; undefined when unknown or stalled. */
  etaSeconds(now: number, left: number): number | undefined {
    if (left <= 0) return 0;
    const r = this.rate(now);
    return r === undefined || r <= 0 ? undefined : left / r;
  }
}
