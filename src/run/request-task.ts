import type { Target } from "../catalog/types.js";
import { failureEvent } from "../fetch/host-pacer.js";
import { classifyError } from "../fetch/retry-policy.js";
import type { TaskRow } from "../ledger/ledger.js";
import { ProductDownload } from "../output/product-download.js";
import { PRODUCT_EXTS } from "../output/product-formats.js";
import { FITS_EXT } from "../plan/layout.js";
import type { Outcome, RequestSource, StoredBody } from "../sources/source.js";
import { adoptExisting } from "./adoption.js";
import { backOff } from "./back-off.js";
import { diskError, WRITE_ERRORS } from "./disk-error.js";
import type { RunState } from "./run-state.js";
import { settle } from "./settle.js";

/** DataLink documents followed in a row for one product before giving up. */
const MAX_FOLLOWS = 3;

function hostOf(url: string): string {
  const u = new URL(url);
  return u.protocol === "file:" ? "file://" : u.host;
}

/**
 * One task of a source that asks a URL per product: adopts a file a killed run left in place, then asks
 * the first URL whose host is not down (fallbacks next), follows DataLink documents to the product,
 * reports each answer to the host's pacer and retries with backoff up to `retries`. A stop, or every
 * host down, gives the task back to pending. A streaming source's product goes to a temp file as it
 * arrives (ProductDownload), and a try after a cut resumes it; the file is kept for the next run when the
 * task is given back.
 */
export async function runRequestTask(
  run: RunState,
  source: RequestSource,
  t: TaskRow,
  band: string,
  planned: Target,
): Promise<void> {
  const dl: { current?: ProductDownload | undefined } = {};
  try {
    await requestLoop(run, source, t, band, planned, dl);
  } finally {
    await dl.current?.release();
  }
}

async function requestLoop(
  run: RunState,
  source: RequestSource,
  t: TaskRow,
  band: string,
  planned: Target,
  dl: { current?: ProductDownload | undefined },
): Promise<void> {
  const { pacer, opts } = run;
  let target = planned;
  const plannedExt = source.extension === undefined ? FITS_EXT : source.extension(target);
  if (t.interrupted === 1) {
    // Only a task a killed process left running can have its file in place already; checking every
    // task would cost a failed open per cutout. A product whose type is known only after its DataLink
    // may sit under any product extension.
    for (const ext of plannedExt === undefined ? PRODUCT_EXTS : [plannedExt]) {
      if (await adoptExisting(run, t, band, run.pathFor(t, band, ext), ext)) return;
    }
  }
  const req = source.request(target, band);
  let urls = [req.url, ...(req.fallbackUrls ?? [])];
  let hops = 0;
  for (let attempt = 0; ; attempt++) {
    if (run.stop.aborted) {
      run.giveBack(t, attempt > 0);
      return;
    }
    const url = urls.find((u) => !pacer.isHostDown(hostOf(u)));
    if (url === undefined) {
      run.hostsFailed(urls.map(hostOf), t, attempt > 0);
      return;
    }
    const host = hostOf(url);
    let outcome: Outcome;
    // A product of known type streams to its temp file (named by the task's tag, so a later run finds it).
    // (A file:// product is read from the disk as it is.)
    const streamExt =
      source.streams === true && /^https?:/i.test(url) ? source.extension?.(target) : undefined;
    const streamPath = streamExt === undefined ? undefined : run.pathFor(t, band, streamExt);
    if (streamPath !== undefined && dl.current?.url !== url) {
      await dl.current?.discard();
      dl.current = await ProductDownload.open(run.store.tempDir, run.tagFor(t.seq, streamPath), url);
      // A product arriving is progress: a 20 GB cube takes longer than --stall-timeout to download.
      const w = run.watchdog;
      if (w !== undefined) dl.current.onWrite = () => w.progress();
    }
    const sink = streamPath === undefined ? undefined : dl.current;
    let stored: StoredBody | undefined;
    run.waits.turn++;
    let waitingTurn = true;
    try {
      const res = await pacer.schedule(
        host,
        async () => {
          run.waits.turn--;
          waitingTurn = false;
          run.requests++;
          const out = { host, since: run.clock.now() };
          run.requestsOut.add(out);
          try {
            return await run.client.get(url, {
              signal: opts.abortSignal,
              ...(sink === undefined ? {} : { sink }),
            });
          } finally {
            run.requestsOut.delete(out);
          }
        },
        run.stop,
      );
      if (sink !== undefined && res.streamedBytes !== undefined)
        stored = { bytes: res.streamedBytes, readAt: (o, l) => sink.readAt(o, l) };
      outcome = await source.interpret(res, target, stored);
    } catch (err) {
      if ((run.stop.aborted && (err as Error).name === "AbortError") || opts.abortSignal.aborted) {
        run.giveBack(t, attempt > 0);
        return;
      }
      if (WRITE_ERRORS.has((err as NodeJS.ErrnoException).code ?? "")) {
        // The temp file could not be written (a full disk): a run-level failure, not this product's.
        run.failTask(t, diskError(err, run.store.tempDir));
        return;
      }
      const c = classifyError(err);
      outcome = c.retryable
        ? { kind: "retryable", code: c.code, message: (err as Error).message }
        : { kind: "permanent", code: c.code, message: (err as Error).message };
    } finally {
      if (waitingTurn) run.waits.turn--;
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
    const path = run.pathFor(t, band, ext);
    let file: Awaited<ReturnType<ProductDownload["finish"]>> | undefined;
    if (outcome.kind === "stored" && sink !== undefined) {
      file = await sink.finish();
      dl.current = undefined;
    } else if (stored !== undefined) {
      // A whole answer that is not the product (an HTML page with 200): never resumed from.
      await sink?.discard();
    }
    const final = attempt >= opts.retries;
    if ((await settle(run, t, band, path, outcome, attempt, url, final, file)) === "settled") {
      // A failed task keeps a resumable part only when asking again may work.
      if (outcome.kind === "permanent") await dl.current?.discard();
      return;
    }
    if (outcome.kind !== "retryable") return;
    // Stopped while waiting: the loop head requeues the task.
    await backOff(run, t, band, attempt, outcome, url);
  }
}
