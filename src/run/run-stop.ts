/**
 * Stopping is bounded in every state, so that SIGTERM from SLURM (30 s before SIGKILL by default) or
 * `docker stop` (10 s) ends the run with a clean exit 5. After a signal or --max-duration, requests in
 * flight get STOP_REQUEST_GRACE_MS to finish (then they are aborted and their tasks requeued), and the
 * final group sync and ledger commit get until STOP_EXIT_GRACE_MS after the signal: a sync that never
 * returns is then abandoned (those files are not recorded; the next run asks for them again).
 */
export const STOP_REQUEST_GRACE_MS = 5_000;
export const STOP_EXIT_GRACE_MS = 8_000;
/** After a second signal: requests are aborted at once, and the final flush gets this long. */
export const SECOND_SIGNAL_EXIT_MS = 2_000;
/**
 * A second SIGTERM this soon after the first is an echo of it, not the "again" that aborts: scancel and a
 * SLURM time limit signal every process of the job, and the batch script forwards its own to vocut
 * (examples/slurm-array.sh), so vocut gets two SIGTERMs milliseconds apart.
 */
export const SIGTERM_ECHO_MS = 2_000;
/** After the watchdog fires: requests are aborted at once, and the final flush gets this long. */
export const STALL_EXIT_GRACE_MS = 5_000;

/**
 * The three steps of stopping a job, each an AbortSignal: `stop` (no new work; requests in flight may
 * finish), `hardAbort` (abort them), `giveUp` (stop waiting for the final flush). Each later step
 * follows the earlier on a timer, so no state (a request that never answers, a sync that never
 * returns) keeps the process alive. Deadlines are unref'd timers: a job that ends sooner is not held.
 */
export class RunStop {
  private readonly stopC = new AbortController();
  private readonly hardC = new AbortController();
  private readonly giveUpC = new AbortController();
  private readonly timers: NodeJS.Timeout[] = [];
  private signals = 0;
  /** When the first signal came and which it was (for SIGTERM echoes). */
  private first: { readonly at: number; readonly sig: NodeJS.Signals } | undefined;

  /** `say` prints a line to the user (stderr). */
  constructor(private readonly say: (line: string) => void) {}

  /** No new work; requests in flight may finish. */
  get stop(): AbortSignal {
    return this.stopC.signal;
  }
  /** Abort requests in flight. */
  get hardAbort(): AbortSignal {
    return this.hardC.signal;
  }
  /** Stop waiting for the final flush. */
  get giveUp(): AbortSignal {
    return this.giveUpC.signal;
  }

  /** Graceful stop (first signal, --max-duration): the later steps follow on their deadlines. */
  begin(): void {
    if (this.stopC.signal.aborted) return;
    this.stopC.abort();
    this.after(STOP_REQUEST_GRACE_MS, this.hardC);
    this.after(STOP_EXIT_GRACE_MS, this.giveUpC);
  }

  /** Stop now and abort requests in flight; the final flush gets `flushMs`. */
  abortNow(flushMs: number): void {
    this.stopC.abort();
    this.hardC.abort();
    this.after(flushMs, this.giveUpC);
  }

  /**
   * A signal (the CLI's process handlers call this): the first stops gracefully, the second aborts
   * requests, the third stops all waiting. A SIGTERM within SIGTERM_ECHO_MS of a first SIGTERM is the
   * same stop (said, not escalated).
   */
  signal(sig: NodeJS.Signals): void {
    const now = Date.now();
    const echo =
      sig === "SIGTERM" &&
      this.signals === 1 &&
      this.first?.sig === "SIGTERM" &&
      now - this.first.at < SIGTERM_ECHO_MS;
    if (echo) {
      this.say(`SIGTERM again within ${SIGTERM_ECHO_MS / 1000} s: the same stop, requests in flight go on`);
      return;
    }
    this.signals++;
    this.first ??= { at: now, sig };
    if (this.signals === 1 && !this.stopC.signal.aborted) {
      this.say(
        `${sig}: finishing requests in flight (up to ${STOP_REQUEST_GRACE_MS / 1000} s), then stopping (again to abort them)`,
      );
      this.begin();
    } else if (!this.hardC.signal.aborted) {
      this.say(`${sig}: aborting requests in flight`);
      this.abortNow(SECOND_SIGNAL_EXIT_MS);
    } else {
      this.say(`${sig}: not waiting for the final flush`);
      this.giveUpC.abort();
    }
  }

  /** Cancel the deadlines (idempotent). */
  dispose(): void {
    for (const t of this.timers.splice(0)) clearTimeout(t);
  }

  private after(ms: number, c: AbortController): void {
    if (c.signal.aborted) return;
    const t = setTimeout(() => c.abort(), ms);
    t.unref();
    this.timers.push(t);
  }
}

/** Catalog events until `signal` aborts: planning stops between rows, what was planned stays planned. */
export async function* untilStopped<T>(events: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  for await (const ev of events) {
    if (signal.aborted) return;
    yield ev;
  }
}
