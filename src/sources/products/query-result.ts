import { existsSync, mkdirSync } from "node:fs";
import type { Clock } from "../../fetch/clock.js";
import type { HttpClient } from "../../fetch/http-client.js";
import { AtomicWriter } from "../../output/write-atomic.js";
import type { TapQuery } from "./products-source.js";
import { runTapQuery } from "./tap.js";
import { deleteUwsJob, runAsyncTapQuery, type UwsJobStore } from "./uws.js";

/** How `vocut obscore` gets the result of its query. */
export interface QueryResultParams {
  readonly client: HttpClient;
  readonly query: TapQuery;
  /** Where the result is kept (inside outDir): a resume reads it instead of asking again. */
  readonly listPath: string;
  readonly outDir: string;
  readonly clock: Clock;
  readonly signal: AbortSignal;
  readonly retries: number;
  /** Async (UWS) instead of sync: where the job URL is kept, WAIT per poll (s) and the budget (ms). */
  readonly async?: { readonly store: UwsJobStore; readonly waitSec: number; readonly budgetMs: number };
  readonly info: (line: string) => void;
}

/**
 * Make sure the query's result is in `listPath`: kept from an earlier run, else asked for (sync, or as an
 * async job that a killed run resumes) and written atomically. An async job is deleted only after its
 * result is durable, and its URL forgotten only then; a run killed in between deletes it next time.
 */
export async function ensureQueryResult(p: QueryResultParams): Promise<void> {
  if (existsSync(p.listPath)) {
    p.info(`using the stored query result ${p.listPath} (no new query)`);
    const left = p.async?.store.get();
    if (left !== undefined) await finishJob(p, left);
    return;
  }
  let body: Buffer;
  let jobUrl: string | undefined;
  if (p.async === undefined) {
    body = await runSync(p);
  } else {
    const r = await runAsyncTapQuery(p.client, p.query, p.async.store, asyncOptions(p, p.async));
    body = r.body;
    jobUrl = r.jobUrl;
  }
  // Not prepare(): that clears temp files, which only the ledger's lock holder may do.
  const writer = new AtomicWriter(p.outDir);
  mkdirSync(writer.tempDir, { recursive: true });
  await writer.write(p.listPath, body);
  writer.syncDirs();
  p.info(`TAP query answered ${body.length} bytes; kept in ${p.listPath}`);
  if (jobUrl !== undefined) await finishJob(p, jobUrl);
}

async function finishJob(p: QueryResultParams, jobUrl: string): Promise<void> {
  const note = await deleteUwsJob(p.client, jobUrl, p.signal, p.query.tap);
  if (note !== undefined) p.info(`note: ${note}`);
  p.async?.store.clear();
}

/** How an aggregate query (`--describe`, `--dry-run`) is run: like the job's own query, sync or async. */
export interface AggregateParams {
  readonly client: HttpClient;
  readonly query: TapQuery;
  readonly clock: Clock;
  readonly signal: AbortSignal;
  readonly retries: number;
  readonly async?: { readonly waitSec: number; readonly budgetMs: number };
  readonly info: (line: string) => void;
}

/**
 * Run a small query and return its result document. Async jobs are kept in memory only (a dry run writes
 * nothing) and deleted once read, or when they fail.
 */
export async function runSmallQuery(p: AggregateParams): Promise<Buffer> {
  if (p.async === undefined) return runSync(p);
  let jobUrl: string | undefined;
  const store: UwsJobStore = {
    get: () => jobUrl,
    set: (u) => {
      jobUrl = u;
    },
    clear: () => {
      jobUrl = undefined;
    },
  };
  try {
    const r = await runAsyncTapQuery(p.client, p.query, store, asyncOptions(p, p.async));
    return r.body;
  } finally {
    if (jobUrl !== undefined) {
      const note = await deleteUwsJob(p.client, jobUrl, p.signal, p.query.tap);
      if (note !== undefined) p.info(`note: ${note}`);
    }
  }
}

/** A sync query with the run's retries, on its clock. */
function runSync(p: AggregateParams): Promise<Buffer> {
  return runTapQuery(p.client, p.query, {
    retries: p.retries,
    signal: p.signal,
    sleep: (ms) => p.clock.sleep(ms, p.signal),
  });
}

/** The polling options of an async job from the run's settings. */
function asyncOptions(p: AggregateParams, a: { readonly waitSec: number; readonly budgetMs: number }) {
  return {
    clock: p.clock,
    signal: p.signal,
    retries: p.retries,
    waitSec: a.waitSec,
    budgetMs: a.budgetMs,
    onInfo: p.info,
  };
}
