import { createHash } from "node:crypto";
import { setMaxListeners } from "node:events";
import { readFile } from "node:fs/promises";
import { relative } from "node:path";
import type { Target } from "../catalog/types.js";
import { ExitCode, VocutError } from "../errors.js";
import type { Clock } from "../fetch/clock.js";
import { failureEvent, type HostPacer } from "../fetch/host-pacer.js";
import type { HttpClient } from "../fetch/http-client.js";
import { backoffMs, classifyError } from "../fetch/retry-policy.js";
import { validateFits } from "../fits/validate.js";
import type { Ledger, LedgerCounts, TaskRow } from "../ledger/ledger.js";
import { PRODUCT_EXTS } from "../output/product-formats.js";
import { type AtomicWriter, GROUP_FILES } from "../output/write-atomic.js";
import { FITS_EXT, insideDir, outputRelPath } from "../plan/layout.js";
import {
  type DirectGet,
  isProducer,
  type Outcome,
  type ProducerSource,
  type SharedGet,
  type Source,
} from "../sources/source.js";
import { Watchdog } from "./watchdog.js";

/** Settled state of one task as reported in events. */
export type TaskEventState =
  | "done"
  | "adopted"
  | "no_coverage"
  | "failed_retryable"
  | "failed_permanent"
  | "retry";

/** Events a run emits (NDJSON with --json, progress bar otherwise). */
export type RunEvent =
  | {
      readonly type: "task";
      readonly id: string;
      readonly band: string;
      readonly state: TaskEventState;
      readonly attempt: number;
      readonly url?: string;
      readonly status?: number;
      readonly code?: string;
      readonly message?: string;
      readonly delayMs?: number;
      readonly path?: string;
    }
  | { readonly type: "host"; readonly host: string; readonly state: string; readonly message: string };

/** Settings of the task loop. */
export interface RunOptions {
  readonly outDir: string;
  readonly layout: string;
  /** Retries per task in this run, after the first attempt. */
  readonly retries: number;
  /** Backoff base and cap for per-task retries, in ms. */
  readonly backoffBaseMs: number;
  readonly backoffCapMs: number;
  /** Tasks in progress at once (HTTP slots are limited per host by the pacer). */
  readonly maxInFlight: number;
  /** Tasks paged out of the ledger at a time. */
  readonly claimBatch: number;
  readonly onEvent: (e: RunEvent) => void;
  /** Graceful stop: no new dispatch, waiting tasks go back to pending, in-flight requests settle. */
  readonly stopSignal: AbortSignal;
  /** Hard stop (second signal): in-flight requests are aborted too. */
  readonly abortSignal: AbortSignal;
  readonly random?: () => number;
  /** Shared-resource fetcher for producing sources (client-side HiPS). */
  readonly shared?: SharedGet;
  /** Paced single requests for producing sources (SODA cutouts). */
  readonly direct?: DirectGet;
  /**
   * Stop waiting for in-flight tasks and the final group sync, which may never return (a hung file
   * system): the loop ends at once with what is durable recorded. Tasks it leaves are still "running"
   * in the ledger, as after a kill: the next run requeues them (and adopts any file already in place).
   */
  readonly giveUpSignal?: AbortSignal;
  /** Watchdog: busy with no task settled, failed or retried and no shared fetch ended for this long, ms. */
  readonly stallTimeoutMs?: number;
  /** Called once when the watchdog fires, with what the run was waiting for (one line each). */
  readonly onStall?: (idleMs: number, waitingFor: readonly string[]) => void;
}

/** Result of one run of the task loop. */
export interface RunResult {
  /** Tasks settled in this run, by outcome. */
  readonly settled: Readonly<Record<TaskEventState, number>>;
  /** HTTP requests sent in this run. */
  readonly requests: number;
  /**
   * Tasks given back to pending (stop, host down) after an answer in this run, with no attempt recorded
   * in the ledger: pending, yet work to retry rather than never tried.
   */
  readonly requeuedAfterAnswer: number;
  /** Why the loop ended early, if it did ("stall": the watchdog fired). */
  readonly stoppedBy?: "signal" | "host_down" | "stall";
  /** True when the loop gave up waiting (giveUpSignal) for work that was not finished. */
  readonly abandoned: boolean;
  readonly hostsDown: readonly string[];
  readonly counts: LedgerCounts;
  readonly exitCode: ExitCode;
}

function hostOf(url: string): string {
  const u = new URL(url);
  return u.protocol === "file:" ? "file://" : u.host;
}

/**
 * The task loop: pages pending tasks out of the ledger in plan order, runs each through the source and
 * the per-host pacer with retries, writes products atomically and records every outcome. Memory is
 * bounded by `maxInFlight + claimBatch` tasks whatever the catalog size. Run-level failures (disk full)
 * stop the loop and are thrown after in-flight work has settled and the ledger is flushed.
 */
export async function runTasks(
  ledger: Ledger,
  source: Source,
  client: HttpClient,
  pacer: HostPacer,
  writer: AtomicWriter,
  clock: Clock,
  opts: RunOptions,
): Promise<RunResult> {
  const settled: Record<TaskEventState, number> = {
    done: 0,
    adopted: 0,
    no_coverage: 0,
    failed_retryable: 0,
    failed_permanent: 0,
    retry: 0,
  };
  let requests = 0;
  let fatal: unknown;
  /** Written files waiting for their group sync before "done" is recorded. */
  const grouped = new Set<Promise<void>>();
  const hostsDown = new Set<string>();
  const localStop = new AbortController();
  const stop = AbortSignal.any([opts.stopSignal, localStop.signal]);
  const random = opts.random ?? Math.random;
  // Every task waiting for a token or a backoff listens on the stop signals: many by design.
  setMaxListeners(0, stop, opts.stopSignal, opts.abortSignal);

  const inFlight = new Set<Promise<void>>();
  let buffer: TaskRow[] = [];
  /** Requests sent and not yet answered, for the watchdog's report of what the run waits for. */
  const requestsOut = new Set<{ readonly host: string; readonly since: number }>();
  const waits = { turn: 0, backoff: 0, producing: 0 };
  const watchdog =
    opts.stallTimeoutMs === undefined
      ? undefined
      : new Watchdog({
          timeoutMs: opts.stallTimeoutMs,
          clock,
          busy: () => inFlight.size > 0 || buffer.length > 0 || grouped.size > 0,
          onStall: (idleMs) => {
            stalled = true;
            opts.onStall?.(idleMs, waitingFor());
          },
        });
  let stalled = false;

  /** What the run is waiting for, one line each (the watchdog's report). */
  function waitingFor(): string[] {
    const now = clock.now();
    const lines: string[] = [];
    const byHost = new Map<string, { n: number; since: number }>();
    for (const r of requestsOut) {
      const h = byHost.get(r.host);
      if (h === undefined) byHost.set(r.host, { n: 1, since: r.since });
      else {
        h.n++;
        h.since = Math.min(h.since, r.since);
      }
    }
    for (const [host, h] of byHost)
      lines.push(
        `${h.n} request(s) in flight to ${host}, the oldest for ${Math.round((now - h.since) / 1000)} s`,
      );
    for (const [host, st] of Object.entries(pacer.snapshot()))
      if (st.pausedUntil !== undefined || st.breaker !== "closed")
        lines.push(
          `${host} ${st.state}` +
            (st.pausedUntil === undefined ? "" : ` until ${new Date(st.pausedUntil).toISOString()}`) +
            ` (circuit breaker ${st.breaker}, ${st.consecutiveFailures} failure(s) in a row)`,
        );
    if (waits.turn > 0) lines.push(`${waits.turn} task(s) waiting for their host's turn (rate, connections)`);
    if (waits.backoff > 0) lines.push(`${waits.backoff} task(s) waiting to retry`);
    if (waits.producing > 0)
      lines.push(`${waits.producing} task(s) computing a product (shared downloads, reads)`);
    const syncing = grouped.size - writer.waiting - writer.writingTemp;
    if (writer.writingTemp > 0) lines.push(`${writer.writingTemp} temp file(s) being written`);
    if (writer.waiting > 0) lines.push(`${writer.waiting} file(s) waiting for their group sync`);
    if (syncing > 0) lines.push(`${syncing} file(s) in a group sync (fsync/syncfs) that has not returned`);
    if (buffer.length > 0) lines.push(`${buffer.length} claimed task(s) not started`);
    return lines.length > 0 ? lines : [`${inFlight.size} task(s) in progress`];
  }

  const emit = (e: RunEvent): void => {
    // Settled, failed or retried: progress.
    if (e.type === "task") watchdog?.progress();
    opts.onEvent(e);
  };
  /** A shared fetch or direct request ending (either way) is progress too. */
  function watched<T>(p: Promise<T>): Promise<T> {
    if (watchdog !== undefined) p.then(watchdog.progress.bind(watchdog), watchdog.progress.bind(watchdog));
    return p;
  }
  const shared: SharedGet | undefined =
    opts.shared === undefined
      ? undefined
      : (url, signal, o) => watched((opts.shared as SharedGet)(url, signal, o));
  const direct: DirectGet | undefined =
    opts.direct === undefined ? undefined : (url, signal) => watched((opts.direct as DirectGet)(url, signal));

  /** Tasks given back after an answer in this run (a retry was due) that the ledger shows as never tried. */
  let requeuedAfterAnswer = 0;
  /** Give a task back to pending; `answered`: it had an answer in this run, so it is work to retry. */
  const giveBack = (t: TaskRow, answered: boolean): void => {
    // A task with attempts > 0 is counted from the ledger (Ledger.pendingTried()).
    if (answered && t.attempts === 0) requeuedAfterAnswer++;
    ledger.complete(t.seq, { kind: "requeue" });
  };

  /** Whether a body found on disk is a whole product of this job (what a fresh answer would be checked for). */
  const productOk = (body: Buffer, ext: string): boolean =>
    !isProducer(source) && source.adoptable !== undefined
      ? source.adoptable(body, ext)
      : validateFits(body).ok;

  // Temp files are tagged `<seq>-<16 hex>`: the hex is a hash of the job's parameters and the output
  // path, so a temp file is adopted only by the task, and the job, that wrote it (a ledger deleted and
  // planned anew reuses seq numbers for other products).
  const jobKey = JSON.stringify(ledger.job() ?? null);
  const tagFor = (seq: number, path: string): string =>
    `${seq}-${createHash("sha256")
      .update(`${jobKey}\0${relative(opts.outDir, path)}`)
      .digest("hex")
      .slice(0, 16)}`;

  /**
   * Answers a killed run had written to its temp folder but not yet synced and renamed (a kill -9 while
   * they waited for their group's sync): each sits whole in the page cache under a name that says which
   * task it belongs to and the SHA-256 of its body. One whose task is still unsettled, whose body has
   * that hash and which still passes the product check is made durable, renamed into place and recorded
   * done, as if its group had synced; anything else is removed, and its task asked again.
   */
  async function adoptLeftovers(): Promise<void> {
    const found: Array<{
      tmp: string;
      finalPath: string;
      t: TaskRow;
      band: string;
      bytes: number;
      sha256: string;
    }> = [];
    for (const l of writer.leftovers()) {
      const m = /^(\d{1,15})-[0-9a-f]{16}$/.exec(l.tag);
      const t = m === null ? undefined : ledger.task(Number(m[1]));
      const band = t === undefined ? undefined : source.bands[t.bandIndex];
      if (t === undefined || band === undefined || (t.state !== "pending" && t.state !== "running")) {
        writer.discard(l.tmp);
        continue;
      }
      const pathFor = (ext: string): string =>
        insideDir(opts.outDir, outputRelPath(opts.layout, band, t.safeId, t.targetRow, ext));
      // Every extension this job can save under (PRODUCT_EXTS holds FITS_EXT and ".dat"); the tag says which.
      const ext = (isProducer(source) ? [FITS_EXT] : PRODUCT_EXTS).find(
        (e) => tagFor(t.seq, pathFor(e)) === l.tag,
      );
      const body = ext === undefined ? undefined : await readFile(l.tmp).catch(() => undefined);
      if (
        ext === undefined ||
        body === undefined ||
        createHash("sha256").update(body).digest("hex") !== l.sha256 ||
        !productOk(body, ext)
      ) {
        writer.discard(l.tmp);
        continue;
      }
      found.push({ tmp: l.tmp, finalPath: pathFor(ext), t, band, bytes: body.length, sha256: l.sha256 });
    }
    if (found.length === 0) return;
    try {
      await writer.adopt(found);
    } catch (err) {
      throw diskError(err, writer.tempDir);
    }
    for (const f of found) {
      ledger.complete(f.t.seq, { kind: "done", bytes: f.bytes, sha256: f.sha256, httpStatus: 200 });
      settled.adopted++;
      emit({ type: "task", id: f.t.id, band: f.band, state: "adopted", attempt: 0, path: f.finalPath });
    }
    // Committed before the first claim, so that no adopted task is handed out again.
    ledger.flush();
  }

  async function adoptExisting(t: TaskRow, band: string, path: string, ext: string): Promise<boolean> {
    // A killed run may have renamed the file into place without committing "done": take it as it is
    // instead of asking the server again. Anything that is not a complete product is replaced.
    let body: Buffer;
    try {
      body = await readFile(path);
    } catch {
      return false;
    }
    if (!productOk(body, ext)) return false;
    const sha256 = createHash("sha256").update(body).digest("hex");
    ledger.complete(t.seq, { kind: "done", bytes: body.length, sha256 });
    settled.adopted++;
    emit({ type: "task", id: t.id, band, state: "adopted", attempt: 0, path });
    return true;
  }

  /**
   * Record a final outcome (done after the atomic write); a retryable one is final only when `final`.
   * Returns "retry" when the caller should try again.
   */
  async function settle(
    t: TaskRow,
    band: string,
    path: string,
    outcome: Outcome,
    attempt: number,
    url: string | undefined,
    final: boolean,
  ): Promise<"settled" | "retry"> {
    const urlField = url === undefined ? {} : { url };
    switch (outcome.kind) {
      case "done": {
        // The file becomes durable with its group (AtomicWriter.writeGrouped); the task's slot is free
        // meanwhile, and "done" is recorded only once the file is durable and in place.
        const durable = writer.writeGrouped(path, outcome.body, tagFor(t.seq, path)).then(
          (written) => {
            ledger.complete(t.seq, { kind: "done", ...written, httpStatus: 200 });
            settled.done++;
            emit({ type: "task", id: t.id, band, state: "done", attempt, ...urlField, path });
          },
          (err: unknown) => {
            fatal ??= diskError(err, path);
            localStop.abort();
            ledger.complete(t.seq, { kind: "requeue" });
          },
        );
        grouped.add(durable);
        void durable.finally(() => grouped.delete(durable));
        // Bounded: past a full group of files waiting, a task waits for its own.
        if (writer.waiting >= MAX_WAITING_WRITES) await durable;
        return "settled";
      }
      case "no_coverage":
        ledger.complete(t.seq, { kind: "no_coverage", message: outcome.message });
        settled.no_coverage++;
        emit({
          type: "task",
          id: t.id,
          band,
          state: "no_coverage",
          attempt,
          ...urlField,
          message: outcome.message,
        });
        return "settled";
      case "permanent":
        ledger.complete(t.seq, {
          kind: "failed_permanent",
          code: outcome.code,
          message: outcome.message,
          ...(outcome.status === undefined ? {} : { httpStatus: outcome.status }),
        });
        settled.failed_permanent++;
        emit({
          type: "task",
          id: t.id,
          band,
          state: "failed_permanent",
          attempt,
          ...urlField,
          code: outcome.code,
          message: outcome.message,
          ...(outcome.status === undefined ? {} : { status: outcome.status }),
        });
        return "settled";
      case "follow":
        throw new Error(`internal: a "follow" outcome (${outcome.message}) reached settle()`);
      case "retryable": {
        const status = outcome.status === undefined ? {} : { status: outcome.status };
        if (final) {
          ledger.complete(t.seq, {
            kind: "failed_retryable",
            code: outcome.code,
            message: outcome.message,
            ...(outcome.status === undefined ? {} : { httpStatus: outcome.status }),
          });
          settled.failed_retryable++;
          emit({
            type: "task",
            id: t.id,
            band,
            state: "failed_retryable",
            attempt,
            ...urlField,
            code: outcome.code,
            message: outcome.message,
            ...status,
          });
          return "settled";
        }
        return "retry";
      }
    }
  }

  async function runTask(t: TaskRow): Promise<void> {
    const band = source.bands[t.bandIndex];
    if (band === undefined) throw new Error(`internal: band index ${t.bandIndex} out of range`);
    let target: Target = {
      id: t.id,
      raDeg: t.raDeg ?? Number.NaN,
      decDeg: t.decDeg ?? Number.NaN,
      row: t.targetRow,
      ...(t.url === null
        ? {}
        : { product: t.format === null ? { url: t.url } : { url: t.url, format: t.format } }),
    };
    const pathFor = (ext: string): string =>
      insideDir(opts.outDir, outputRelPath(opts.layout, band, t.safeId, t.targetRow, ext));
    if (isProducer(source)) {
      const path = pathFor(FITS_EXT);
      // Only a task a killed process left running can have its file in place already; checking every
      // task would cost a failed open per cutout.
      if (t.interrupted === 1 && (await adoptExisting(t, band, path, FITS_EXT))) return;
      await runProducerTask(t, band, path, source, target);
      return;
    }
    const plannedExt = source.extension === undefined ? FITS_EXT : source.extension(target);
    if (t.interrupted === 1) {
      // A product whose type is known only after its DataLink may sit under any product extension.
      for (const ext of plannedExt === undefined ? PRODUCT_EXTS : [plannedExt]) {
        if (await adoptExisting(t, band, pathFor(ext), ext)) return;
      }
    }
    const req = source.request(target, band);
    let urls = [req.url, ...(req.fallbackUrls ?? [])];
    let hops = 0;
    for (let attempt = 0; ; attempt++) {
      if (stop.aborted) {
        giveBack(t, attempt > 0);
        return;
      }
      const url = urls.find((u) => !pacer.isHostDown(hostOf(u)));
      if (url === undefined) {
        for (const u of urls) hostsDown.add(hostOf(u));
        localStop.abort();
        giveBack(t, attempt > 0);
        return;
      }
      const host = hostOf(url);
      let outcome: Outcome;
      waits.turn++;
      let waitingTurn = true;
      try {
        const res = await pacer.schedule(
          host,
          async () => {
            waits.turn--;
            waitingTurn = false;
            requests++;
            const out = { host, since: clock.now() };
            requestsOut.add(out);
            try {
              return await client.get(url, { signal: opts.abortSignal });
            } finally {
              requestsOut.delete(out);
            }
          },
          stop,
        );
        outcome = await source.interpret(res, target);
      } catch (err) {
        if (stop.aborted && (err as Error).name === "AbortError") {
          giveBack(t, attempt > 0);
          return;
        }
        if (opts.abortSignal.aborted) {
          giveBack(t, attempt > 0);
          return;
        }
        const c = classifyError(err);
        outcome = c.retryable
          ? { kind: "retryable", code: c.code, message: (err as Error).message }
          : { kind: "permanent", code: c.code, message: (err as Error).message };
      } finally {
        if (waitingTurn) waits.turn--;
      }
      // The host's health: throttling slows it, failures count towards its circuit breaker, and any
      // answer that shows the server working (incl. 404 for one object) counts as success.
      if (outcome.kind === "retryable") {
        pacer.report(host, failureEvent(outcome.status, outcome.code), outcome.retryAfterMs);
      } else {
        pacer.report(host, "success");
      }
      if (outcome.kind === "follow") {
        // A DataLink document named the product: fetch that next, as part of the same task.
        if (++hops > MAX_FOLLOWS) {
          outcome = {
            kind: "permanent",
            code: "TOO_MANY_LINKS",
            message: `more than ${MAX_FOLLOWS} DataLink documents in a row from ${req.url}`,
          };
        } else {
          target = { ...target, product: outcome.product };
          urls = [outcome.product.url];
          attempt--;
          continue;
        }
      }
      const ext = (source.extension === undefined ? FITS_EXT : source.extension(target)) ?? ".dat";
      const path = pathFor(ext);
      if ((await settle(t, band, path, outcome, attempt, url, attempt >= opts.retries)) === "settled") return;
      if (outcome.kind !== "retryable") return;
      // Stopped while waiting: the loop head requeues the task.
      await backOff(t, band, attempt, outcome, url);
    }
  }

  /**
   * Wait before another try: full-jitter backoff, but never sooner than the server asked for. Emits the
   * "retry" event. Resolves false when the run was stopped during the wait.
   */
  async function backOff(
    t: TaskRow,
    band: string,
    attempt: number,
    outcome: Extract<Outcome, { kind: "retryable" }>,
    url: string | undefined,
  ): Promise<boolean> {
    const delayMs = Math.max(
      backoffMs(attempt, random, opts.backoffBaseMs, opts.backoffCapMs),
      outcome.retryAfterMs ?? 0,
    );
    settled.retry++;
    emit({
      type: "task",
      id: t.id,
      band,
      state: "retry",
      attempt,
      ...(url === undefined ? {} : { url }),
      code: outcome.code,
      message: outcome.message,
      delayMs,
      ...(outcome.status === undefined ? {} : { status: outcome.status }),
    });
    waits.backoff++;
    try {
      await clock.sleep(delayMs, stop);
      return true;
    } catch {
      return false;
    } finally {
      waits.backoff--;
    }
  }

  /**
   * A computed product (client-side HiPS, SIA): the source fetches what it needs through the shared
   * fetcher, which already retries each resource, so a thrown fetch failure is final for this run. A
   * "retryable" outcome (a SODA service said ServiceUnavailable) is tried again with backoff.
   */
  async function runProducerTask(
    t: TaskRow,
    band: string,
    path: string,
    producer: ProducerSource,
    target: Target,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const r = await produceOnce(t, producer, target, band, attempt);
      if (r === undefined) return; // requeued
      const { outcome } = r;
      // A thrown fetch failure was retried by the shared fetcher already: final for this run.
      const final = attempt >= opts.retries || outcome.kind !== "retryable" || r.thrown;
      if ((await settle(t, band, path, outcome, attempt, undefined, final)) === "settled") return;
      if (outcome.kind !== "retryable") return;
      if (!(await backOff(t, band, attempt, outcome, undefined))) {
        giveBack(t, true);
        return;
      }
    }
  }

  /** One produce() call; undefined when the task was given back (stopping, host down). */
  async function produceOnce(
    t: TaskRow,
    producer: ProducerSource,
    target: Target,
    band: string,
    attempt: number,
  ): Promise<{ outcome: Outcome; thrown: boolean } | undefined> {
    if (stop.aborted || shared === undefined || direct === undefined) {
      giveBack(t, attempt > 0);
      return undefined;
    }
    waits.producing++;
    try {
      return { outcome: await producer.produce(target, band, shared, stop, direct), thrown: false };
    } catch (err) {
      // Run-level failures stop the run (the dispatcher requeues the task): a VocutError, or a local
      // write failing (tile cache on a full disk) - recorded per task it would fail every task.
      if (err instanceof VocutError) throw err;
      if (WRITE_ERRORS.has((err as NodeJS.ErrnoException).code ?? "")) throw diskError(err, opts.outDir);
      if (stop.aborted || opts.abortSignal.aborted) {
        giveBack(t, attempt > 0);
        return undefined;
      }
      const down = Object.entries(pacer.snapshot()).filter(([, st]) => st.state === "down");
      if (down.length > 0) {
        for (const [h] of down) hostsDown.add(h);
        localStop.abort();
        giveBack(t, attempt > 0);
        return undefined;
      }
      const c = classifyError(err);
      const message = (err as Error).message;
      const outcome: Outcome = c.retryable
        ? { kind: "retryable", code: c.code, message }
        : { kind: "permanent", code: c.code, message };
      return { outcome, thrown: true };
    } finally {
      waits.producing--;
    }
  }

  // Wakes the dispatcher when the run is stopped: waiting on the tasks alone, it would not notice a
  // stop while every task in flight hangs (a request that never answers, a group sync that never
  // returns) and never reach the bounded drain below.
  const stopped = new Promise<void>((r) => {
    if (stop.aborted) r();
    else stop.addEventListener("abort", () => r(), { once: true });
  });
  const giveUp = opts.giveUpSignal;
  const gaveUp = new Promise<"gave_up">((r) => {
    if (giveUp === undefined) return;
    if (giveUp.aborted) r("gave_up");
    else giveUp.addEventListener("abort", () => r("gave_up"), { once: true });
  });
  let abandoned = false;
  try {
    await adoptLeftovers();
    while (!stop.aborted) {
      if (buffer.length === 0) {
        buffer = ledger.claim(opts.claimBatch);
        if (buffer.length === 0) break;
      }
      while (inFlight.size >= opts.maxInFlight && !stop.aborted) await Promise.race([...inFlight, stopped]);
      if (stop.aborted) break;
      const t = buffer.shift() as TaskRow;
      const p: Promise<void> = runTask(t)
        .catch((err: unknown) => {
          fatal ??= err;
          localStop.abort();
          ledger.complete(t.seq, { kind: "requeue" });
        })
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
  } finally {
    const drained = (async () => {
      await Promise.allSettled([...inFlight]);
      await writer.drain();
      await Promise.allSettled([...grouped]);
      return "drained" as const;
    })();
    // Bounded only when the caller gave a give-up signal: a sync that never returns must not keep a
    // stopping process alive. What is not durable by then is not recorded, which is safe.
    try {
      abandoned = (await Promise.race([drained, gaveUp])) === "gave_up";
    } finally {
      watchdog?.stop();
    }
    // Claimed but never started: back to pending.
    for (const t of buffer) ledger.complete(t.seq, { kind: "requeue" });
    ledger.flush();
  }
  for (const h of hostsDown)
    emit({ type: "host", host: h, state: "down", message: `${h} keeps failing; stopped` });
  if (fatal !== undefined) throw fatal;

  const counts = ledger.counts();
  const s = counts.byState;
  const left = s.pending + s.running + s.failed_retryable;
  const exitCode =
    left > 0 ? ExitCode.RetryLater : s.failed_permanent > 0 ? ExitCode.PermanentFailures : ExitCode.Ok;
  const stoppedBy = stalled
    ? "stall"
    : hostsDown.size > 0
      ? "host_down"
      : opts.stopSignal.aborted
        ? "signal"
        : undefined;
  return {
    settled,
    requests,
    abandoned,
    requeuedAfterAnswer,
    hostsDown: [...hostsDown],
    counts,
    exitCode,
    ...(stoppedBy === undefined ? {} : { stoppedBy }),
  };
}

/** Files written but not yet durable, past which a task waits for its own group sync. */
const MAX_WAITING_WRITES = GROUP_FILES;

/** DataLink documents followed in a row for one product before giving up. */
const MAX_FOLLOWS = 3;

/** Local write failures that no retry of a server request can fix. */
const WRITE_ERRORS: ReadonlySet<string> = new Set(["ENOSPC", "EDQUOT", "EROFS"]);

function diskError(err: unknown, path: string): VocutError {
  const code = (err as NodeJS.ErrnoException).code ?? "EIO";
  const hint =
    code === "ENOSPC" || code === "EDQUOT"
      ? "the disk is full: free space and run the same command again"
      : "check the output folder and run again";
  return new VocutError(
    "WRITE_FAILED",
    `cannot write ${path} (${code}): ${hint}; the ledger is intact`,
    ExitCode.RetryLater,
    {
      cause: err,
    },
  );
}
