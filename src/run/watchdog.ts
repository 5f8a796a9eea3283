import type { Clock } from "../fetch/clock.js";

/** What a Watchdog watches and whom it tells. */
export interface WatchdogOptions {
  /** Longest time without progress while busy, ms (> 0). */
  readonly timeoutMs: number;
  readonly clock: Clock;
  /** True while work is queued or in flight; an idle spell is never a stall. */
  readonly busy: () => boolean;
  /** Called once, when busy with no progress for `timeoutMs`: how long it has been, in ms. */
  readonly onStall: (idleMs: number) => void;
}

/**
 * Notices a run that has stopped moving: busy (work queued or in flight) and no progress() for
 * `timeoutMs`. It fires once and then stays quiet; what to do (log, stop, exit 5) is the caller's.
 *
 * One sleep at a time on the injected clock, re-armed only when it wakes: progress() just notes the
 * time, so a run reporting thousands of events a second arms no timers for them. stop() cancels the
 * sleep, so a finished run is not kept alive by its watchdog.
 */
export class Watchdog {
  private last: number;
  private readonly cancel = new AbortController();
  private stalled = false;
  private readonly o: WatchdogOptions;

  /** Starts watching at once. Throws TypeError unless timeoutMs is a finite number > 0. */
  constructor(options: WatchdogOptions) {
    if (!(options.timeoutMs > 0) || !Number.isFinite(options.timeoutMs))
      throw new TypeError(`timeoutMs must be a finite number > 0, got ${options.timeoutMs}`);
    this.o = options;
    this.last = options.clock.now();
    void this.watch();
  }

  /** Something settled, failed or was retried: the run is moving. */
  progress(): void {
    this.last = this.o.clock.now();
  }

  /** True once the stall was reported. */
  get fired(): boolean {
    return this.stalled;
  }

  /** Stop watching (idempotent). */
  stop(): void {
    this.cancel.abort();
  }

  private async watch(): Promise<void> {
    const { clock, timeoutMs } = this.o;
    while (!this.cancel.signal.aborted) {
      const now = clock.now();
      const due = this.last + timeoutMs;
      if (now >= due) {
        if (this.o.busy()) {
          this.stalled = true;
          this.o.onStall(now - this.last);
          return;
        }
        // Nothing to wait for: the window starts again from now.
        this.last = now;
        continue;
      }
      try {
        await clock.sleep(due - now, this.cancel.signal);
      } catch {
        return; // stopped
      }
    }
  }
}
