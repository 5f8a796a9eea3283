import cliProgress from "cli-progress";
import type { SkippedRow } from "../plan/plan-job.js";
import { where } from "../plan/plan-job.js";
import { formatDuration } from "../run/format-duration.js";
import type { RunEvent } from "../run/run-job.js";
import type { RunReporter } from "../run/run-reporter.js";
import { RecentRate } from "./recent-rate.js";

/** Bad rows printed one by one before only counting them. */
const MAX_SKIP_LINES = 50;
/** Interval of the one-line status when stderr is not a terminal, in ms. */
const STATUS_LINE_MS = 5_000;

/**
 * Everything the user sees while a command runs: a progress bar on a terminal, a status line every few
 * seconds otherwise (logs, SLURM), nothing with --quiet, NDJSON on stdout with --json. Errors always go
 * to stderr.
 */
export class Reporter implements RunReporter {
  private readonly quiet: boolean;
  private readonly json: boolean;
  private readonly tty: boolean;
  private skipped = 0;
  private bar: cliProgress.SingleBar | undefined;
  private timer: NodeJS.Timeout | undefined;
  private total = 0;
  private settledAtStart = 0;
  private settled = 0;
  private startedAt = 0;
  private readonly recent = new RecentRate();
  private readonly now: () => number;

  /** `opts.now`: the clock in ms (default Date.now; tests give simulated time). */
  constructor(opts: { quiet: boolean; json: boolean; now?: () => number }) {
    this.quiet = opts.quiet;
    this.json = opts.json;
    this.tty = process.stderr.isTTY === true;
    this.now = opts.now ?? Date.now;
  }

  /** Machine-readable event (NDJSON on stdout with --json). */
  event(obj: Record<string, unknown>): void {
    if (this.json) process.stdout.write(`${JSON.stringify(obj)}\n`);
  }

  /** A human line on stderr (suppressed by --quiet and --json). */
  info(line: string): void {
    if (this.quiet || this.json) return;
    if (this.bar !== undefined) this.bar.stop();
    process.stderr.write(`${line}\n`);
    if (this.bar !== undefined) {
      const now = this.now();
      // start() replaces the payload: without it the bar would show "{eta}" until the next task.
      this.bar.start(this.total, this.settled, {
        rate: this.rate(now).toFixed(1),
        eta: this.eta(now),
        failed: this.failed,
      });
    }
  }

  /** An error or warning: always printed on stderr, and as an event with --json. */
  error(line: string, extra: Record<string, unknown> = {}): void {
    this.event({ type: "error", message: line, ...extra });
    process.stderr.write(`vocut: ${line}\n`);
  }

  /** A skipped catalog row. */
  skip(s: SkippedRow): void {
    this.skipped++;
    this.event({ type: "skip", ...s });
    if (this.skipped <= MAX_SKIP_LINES) this.info(`catalog ${where(s)}: ${s.message}; skipped`);
    else if (this.skipped === MAX_SKIP_LINES + 1)
      this.info("(more bad rows: see the summary count; --json lists all)");
  }

  /** Start progress display for `total` tasks of which `settled` are already settled. */
  start(total: number, settled: number): void {
    this.total = total;
    this.settledAtStart = settled;
    this.settled = settled;
    this.startedAt = this.now();
    this.recent.start(this.startedAt, settled);
    if (this.quiet || this.json) return;
    if (this.tty) {
      this.bar = new cliProgress.SingleBar(
        {
          // Not cli-progress's own {eta_formatted}: see RecentRate.
          format: "{bar} {value}/{total} | {rate}/s | ETA {eta} | {failed} failed",
          hideCursor: true,
          stream: process.stderr,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total, settled, { rate: "0.0", eta: "?", failed: 0 });
    } else {
      this.timer = setInterval(() => process.stderr.write(`${this.statusLine()}\n`), STATUS_LINE_MS);
      this.timer.unref();
    }
  }

  private failed = 0;

  /** A task event from the run loop. */
  task(e: RunEvent): void {
    this.event(e as unknown as Record<string, unknown>);
    if (e.type !== "task") {
      this.info(`${e.host}: ${e.message}`);
      return;
    }
    if (e.state === "retry") return;
    this.settled++;
    if (e.state === "failed_permanent" || e.state === "failed_retryable") this.failed++;
    const now = this.now();
    this.recent.record(now, this.settled);
    this.bar?.update(this.settled, {
      rate: this.rate(now).toFixed(1),
      eta: this.eta(now),
      failed: this.failed,
    });
  }

  /** Tasks/s over the recent past (RecentRate); in the first second, since start. */
  private rate(now: number): number {
    const recent = this.recent.rate(now);
    if (recent !== undefined) return recent;
    const s = (now - this.startedAt) / 1000;
    return s > 0 ? (this.settled - this.settledAtStart) / s : 0;
  }

  /** Time left at the recent rate, "?" while unknown. */
  private eta(now: number): string {
    const secs = this.recent.etaSeconds(now, this.total - this.settled);
    return secs === undefined ? "?" : formatDuration(secs);
  }

  /** "1234/5000 settled, 10.2/s, ETA 6m10s". */
  statusLine(): string {
    const now = this.now();
    return `${this.settled}/${this.total} settled, ${this.rate(now).toFixed(1)}/s, ${this.failed} failed, ETA ${this.eta(now)}`;
  }

  /** Current rate in tasks/s, over the recent past (for the ledger heartbeat). */
  currentRate(): number {
    return this.rate(this.now());
  }

  /** Number of skipped catalog rows reported so far. */
  skippedCount(): number {
    return this.skipped;
  }

  /** Stop the bar/timer. */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.bar?.stop();
    this.bar = undefined;
  }
}

/** Seconds as "1h02m", "6m10s" or "12s" (defined in run/, where the summary is written). */
export { formatDuration };
