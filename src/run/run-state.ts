import { createHash } from "node:crypto";
import { setMaxListeners } from "node:events";
import { relative } from "node:path";
import type { Clock } from "../fetch/clock.js";
import type { HostPacer } from "../fetch/host-pacer.js";
import type { HttpClient } from "../fetch/http-client.js";
import { validateFits } from "../fits/validate.js";
import type { Completion, Ledger, TaskRow } from "../ledger/ledger.js";
import type { Store } from "../output/store.js";
import { insideDir, outputRelPath } from "../plan/layout.js";
import { type DirectGet, isProducer, type SharedGet, type Source } from "../sources/source.js";
import type { RunEvent, TaskEventState } from "./run-event.js";
import type { RunOptions } from "./run-options.js";
import { waitingFor } from "./waiting-for.js";
import { Watchdog } from "./watchdog.js";

/** Fields of a task event besides the task, its band, its state and the attempt. */
type EventFields = Omit<Extract<RunEvent, { type: "task" }>, "type" | "id" | "band" | "state" | "attempt">;

/**
 * What one run of the task loop shares between the dispatcher and its tasks: the ledger, store and
 * pacer, the counters of the result, the stop signals and what the watchdog reports as waited for.
 */
export class RunState {
  /** Tasks settled in this run, by outcome. */
  readonly settled: Record<TaskEventState, number> = {
    done: 0,
    adopted: 0,
    no_coverage: 0,
    failed_retryable: 0,
    failed_permanent: 0,
    retry: 0,
  };
  /** HTTP requests sent by tasks in this run. */
  requests = 0;
  /** The first run-level failure, thrown once in-flight work has settled. */
  fatal: unknown;
  /** Written files waiting for their group sync before "done" is recorded. */
  readonly grouped = new Set<Promise<void>>();
  /** Hosts that kept failing: the run stopped for them. */
  readonly hostsDown = new Set<string>();
  /** The caller's stop or the run's own (a fatal error, a host down). */
  readonly stop: AbortSignal;
  readonly random: () => number;
  /** Tasks in progress. */
  readonly inFlight = new Set<Promise<void>>();
  /** Claimed tasks not yet started. */
  buffer: TaskRow[] = [];
  /** Requests sent and not yet answered, for the watchdog's report of what the run waits for. */
  readonly requestsOut = new Set<{ readonly host: string; readonly since: number }>();
  /** Tasks waiting for their host's turn, for a retry, or computing a product. */
  readonly waits = { turn: 0, backoff: 0, producing: 0 };
  readonly watchdog: Watchdog | undefined;
  /** True once the watchdog fired. */
  stalled = false;
  /** Tasks given back after an answer in this run (a retry was due) that the ledger shows as never tried. */
  requeuedAfterAnswer = 0;
  /** The caller's shared fetcher and direct requests, each ending counted as progress by the watchdog. */
  readonly shared: SharedGet | undefined;
  readonly direct: DirectGet | undefined;
  private readonly localStop = new AbortController();
  private readonly jobKey: string;

  /** The state of a run about to start; arms the watchdog when `opts.stallTimeoutMs` is set. */
  constructor(
    readonly ledger: Ledger,
    readonly source: Source,
    readonly client: HttpClient,
    readonly pacer: HostPacer,
    readonly store: Store,
    readonly clock: Clock,
    readonly opts: RunOptions,
  ) {
    this.stop = AbortSignal.any([opts.stopSignal, this.localStop.signal]);
    this.random = opts.random ?? Math.random;
    // Every task waiting for a token or a backoff listens on the stop signals: many by design.
    setMaxListeners(0, this.stop, opts.stopSignal, opts.abortSignal);
    this.watchdog =
      opts.stallTimeoutMs === undefined
        ? undefined
        : new Watchdog({
            timeoutMs: opts.stallTimeoutMs,
            clock,
            busy: () => this.inFlight.size > 0 || this.buffer.length > 0 || this.grouped.size > 0,
            onStall: (idleMs) => {
              this.stalled = true;
              opts.onStall?.(idleMs, waitingFor(this));
            },
          });
    const shared = opts.shared;
    const direct = opts.direct;
    this.shared = shared === undefined ? undefined : (url, signal, o) => this.watched(shared(url, signal, o));
    this.direct = direct === undefined ? undefined : (url, signal) => this.watched(direct(url, signal));
    // Temp files are tagged `<seq>-<16 hex>`: the hex is a hash of the job's parameters and the output
    // path, so a temp file is adopted only by the task, and the job, that wrote it (a ledger deleted and
    // planned anew reuses seq numbers for other products).
    this.jobKey = JSON.stringify(ledger.job() ?? null);
  }

  /** Pass an event on; a task settled, failed or retried is progress for the watchdog. */
  emit(e: RunEvent): void {
    if (e.type === "task") this.watchdog?.progress();
    this.opts.onEvent(e);
  }

  /** Record a settled task in the ledger, count it and emit its event. */
  record(
    t: TaskRow,
    band: string,
    state: TaskEventState,
    attempt: number,
    c: Completion,
    e: EventFields,
  ): void {
    this.ledger.complete(t.seq, c);
    this.settled[state]++;
    this.emit({ type: "task", id: t.id, band, state, attempt, ...e });
  }

  /** Give a task back to pending; `answered`: it had an answer in this run, so it is work to retry. */
  giveBack(t: TaskRow, answered: boolean): void {
    // A task with attempts > 0 is counted from the ledger (Ledger.pendingTried()).
    if (answered && t.attempts === 0) this.requeuedAfterAnswer++;
    this.ledger.complete(t.seq, { kind: "requeue" });
  }

  /** A run-level failure in task `t`: the run stops (the first one is thrown at the end), `t` is requeued. */
  failTask(t: TaskRow, err: unknown): void {
    this.fatal ??= err;
    this.localStop.abort();
    this.ledger.complete(t.seq, { kind: "requeue" });
  }

  /** `hosts` keep failing: the run stops, and task `t` goes back to pending. */
  hostsFailed(hosts: Iterable<string>, t: TaskRow, answered: boolean): void {
    for (const h of hosts) this.hostsDown.add(h);
    this.localStop.abort();
    this.giveBack(t, answered);
  }

  /** Where task `t` saves its product under extension `ext`. */
  pathFor(t: TaskRow, band: string, ext: string): string {
    return insideDir(this.opts.outDir, outputRelPath(this.opts.layout, band, t.safeId, t.targetRow, ext));
  }

  /** The temp-file tag of task `seq` writing `path` (see the constructor). */
  tagFor(seq: number, path: string): string {
    return `${seq}-${createHash("sha256")
      .update(`${this.jobKey}\0${relative(this.opts.outDir, path)}`)
      .digest("hex")
      .slice(0, 16)}`;
  }

  /** Whether a body found on disk is a whole product of this job (what a fresh answer would be checked for). */
  productOk(body: Buffer, ext: string): boolean {
    const source = this.source;
    return !isProducer(source) && source.adoptable !== undefined
      ? source.adoptable(body, ext)
      : validateFits(body).ok;
  }

  /** A shared fetch or direct request ending (either way) is progress too. */
  private watched<T>(p: Promise<T>): Promise<T> {
    const w = this.watchdog;
    if (w !== undefined) p.then(w.progress.bind(w), w.progress.bind(w));
    return p;
  }
}
