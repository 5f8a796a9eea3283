import { ExitCode, inputError, VocutError } from "../../errors.js";
import type { Clock } from "../../fetch/clock.js";
import { authProblem } from "../../fetch/credentials.js";
import type { HttpClient, HttpResponse, Via } from "../../fetch/http-client.js";
import { classifyError, classifyStatus, parseRetryAfter } from "../../fetch/retry-policy.js";
import { errorText } from "../interpret.js";
import type { TapQuery } from "./products-source.js";
import { checkTapAnswer, queryForm } from "./tap.js";
import { FINAL_PHASES, parseUwsJob, type UwsJobDoc } from "./uws-job.js";

/**
 * Asynchronous TAP queries (TAP 1.1 section 2.1, UWS 1.1). One job in all: it is created once (POST
 * `{tap}/async` with PHASE=RUN; the job URL is the target of the 303, which DaCHS points to
 * `/__system__/tap/run/async/<id>`), its URL goes to `store` before anything else happens, and a later
 * run polls the stored job instead of creating another. Polls block on the server (`WAIT=n&PHASE=p`,
 * UWS 1.1 section 2.2.1.1) and back off when the server does not honour WAIT (pyvo #440 polled 75-100
 * times in 1.5 s); dropped connections and 5xx are retried; the result is read from
 * `{job}/results/result`. The job is deleted with deleteUwsJob() once the caller has saved the result.
 */

/** Where the job URL lives between runs (the ledger's meta table for `vocut obscore --async`). */
export interface UwsJobStore {
  get(): string | undefined;
  set(jobUrl: string): void;
  clear(): void;
  /** The phase the job was last seen in (for `vocut status`). */
  seen?(phase: string): void;
}

/** A pending job as `vocut status` shows it: the URL without user:password, the phase last seen. */
export interface PendingJob {
  readonly url: string;
  readonly phase?: string;
  /** When that phase was seen, epoch ms. */
  readonly seenAt?: number;
}

/** Read the ledger's record of a job (meta "tapJob": `{ url, query, phase?, at? }`); undefined when none. */
export function pendingJob(meta: Record<string, unknown> | null | undefined): PendingJob | undefined {
  if (meta === null || meta === undefined || typeof meta.url !== "string") return undefined;
  let url = meta.url;
  try {
    const u = new URL(meta.url);
    u.username = "";
    u.password = "";
    url = u.href;
  } catch {
    // not a URL: shown as stored
  }
  return {
    url,
    ...(typeof meta.phase === "string" ? { phase: meta.phase } : {}),
    ...(typeof meta.at === "number" ? { seenAt: meta.at } : {}),
  };
}

/** Timing and retry settings of an async query; all waits go through `clock`. */
export interface AsyncTapOptions {
  readonly clock: Clock;
  readonly signal: AbortSignal;
  /** Failed exchanges in a row (dropped connection, 5xx, 429) before giving up with exit 5. */
  readonly retries: number;
  /** WAIT of each blocking poll, seconds (keep it under the HTTP timeout). */
  readonly waitSec: number;
  /** Longest this run waits for the job, ms; then exit 5 and the job is kept for the next run. */
  readonly budgetMs: number;
  /** Backoff between polls a server answered at once: doubles from this, ms (default 1000). */
  readonly backoffBaseMs?: number;
  /** ... up to this, ms (default 60000). */
  readonly backoffCapMs?: number;
  /** In [0, 1): the jitter of backoffs (default Math.random). */
  readonly random?: () => number;
  /** Progress lines for the user. */
  readonly onInfo?: (line: string) => void;
}

/** A finished async query: the result document and the job to delete once it is saved. */
export interface AsyncTapResult {
  readonly body: Buffer;
  readonly jobUrl: string;
  /** Polls sent in this run (the job document asked for, blocking or not). */
  readonly polls: number;
}

const ACTIVE_WAIT = new Set(["PENDING", "QUEUED", "EXECUTING"]);

/** Exchanges with the service, each retried on faults; counts failures in a row. */
class Exchanges {
  private failures = 0;
  constructor(private readonly o: AsyncTapOptions) {}

  /**
   * Send `send()` until the service answers with a status that is not a fault (5xx, 429, 408); returns
   * that response. Connection failures and faults wait a backoff (Retry-After when given) on the clock.
   */
  async send(what: string, send: () => Promise<HttpResponse>): Promise<HttpResponse> {
    for (;;) {
      let problem: string;
      let retryAfterMs: number | undefined;
      try {
        const res = await send();
        if (classifyStatus(res.status) !== "retryable") {
          this.failures = 0;
          return res;
        }
        problem = `HTTP ${res.status} ${errorText(res.body)}`.trim();
        retryAfterMs = parseRetryAfter(res.headers["retry-after"], this.o.clock.now());
      } catch (e) {
        const c = classifyError(e);
        if (!c.retryable || this.o.signal.aborted) {
          throw new VocutError("TAP_FAILED", `${what}: ${(e as Error).message}`, ExitCode.RetryLater, {
            cause: e,
          });
        }
        problem = (e as Error).message;
      }
      this.failures++;
      if (this.failures > this.o.retries) {
        throw new VocutError(
          "TAP_FAILED",
          `${what} failed ${this.failures} time(s) in a row, last: ${problem}; run the same command again later`,
          ExitCode.RetryLater,
        );
      }
      await this.o.clock.sleep(retryAfterMs ?? this.backoff(this.failures - 1), this.o.signal);
    }
  }

  /** Equal-jitter exponential backoff: never 0, so a server that answers at once is never hammered. */
  backoff(attempt: number): number {
    const base = this.o.backoffBaseMs ?? 1_000;
    const ceiling = Math.min(this.o.backoffCapMs ?? 60_000, base * 2 ** Math.min(attempt, 30));
    return ceiling / 2 + (this.o.random ?? Math.random)() * (ceiling / 2);
  }
}

function withParams(url: string, params: Record<string, string>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.href;
}

/**
 * How requests to a job reach it: as the target of the redirect from `{tap}/async` that created it (its
 * URL is that 303's Location, stored or not), so credentials go to a job on the service's origin and not
 * to another host unless --auth-host names it (a first hop would send them anywhere).
 */
export function jobVia(tap: string): Via {
  return { from: `${tap}/async`, sent: true };
}

/** Read a job document; a 404 means the service no longer knows the job (undefined). */
async function readJob(x: Exchanges, client: HttpClient, url: string, o: AsyncTapOptions, via: Via) {
  const res = await x.send(`polling the TAP job ${url}`, () => client.get(url, { signal: o.signal, via }));
  if (res.status === 404 || res.status === 410) return undefined;
  if (res.status !== 200) {
    const status = authProblem(res.status, res.credentialsSent === true) ?? `HTTP ${res.status}`;
    throw inputError("TAP_JOB", `the TAP job ${url} answered ${status}: ${errorText(res.body)}`);
  }
  try {
    return parseUwsJob(res.body);
  } catch (e) {
    throw new VocutError("TAP_JOB", `the TAP job ${url}: ${(e as Error).message}`, ExitCode.RetryLater);
  }
}

/** Create the job (PHASE=RUN in the same POST) and return its URL: the target of the redirect. */
async function createJob(x: Exchanges, client: HttpClient, q: TapQuery, o: AsyncTapOptions): Promise<string> {
  const url = `${q.tap}/async`;
  const res = await x.send(`creating a TAP job at ${url}`, () =>
    client.postForm(url, { ...queryForm(q), PHASE: "RUN" }, { signal: o.signal, redirect: "manual" }),
  );
  const location = res.headers.location;
  if (res.status >= 300 && res.status < 400 && typeof location === "string")
    return new URL(location, url).href;
  if (res.status >= 400) await checkTapAnswer(res, url); // a refused query: throws with the service's words
  throw inputError(
    "TAP_JOB",
    `the TAP service at ${url} answered the job creation with HTTP ${res.status} and no redirect to the job`,
  );
}

/** The error summary of a job in ERROR: the document's message, else the text at {job}/error. */
async function jobError(
  x: Exchanges,
  client: HttpClient,
  jobUrl: string,
  doc: UwsJobDoc,
  o: AsyncTapOptions,
  via: Via,
) {
  if (doc.errorMessage !== "") return doc.errorMessage;
  try {
    const res = await x.send("reading the job's error", () =>
      client.get(`${jobUrl}/error`, { signal: o.signal, via }),
    );
    return res.status === 200 ? errorText(res.body) : "";
  } catch {
    return "";
  }
}

/**
 * Run `q` as an async job (or go on with the job in `store`) and return its result document. Throws
 * inputError (exit 3) when the job ends in ERROR (with the service's error summary) or the query is
 * refused; VocutError exit 5 when the job was ABORTED, the service keeps failing, or `budgetMs` ran out
 * (the job stays in `store`, so the same command waits for the same job again).
 */
export async function runAsyncTapQuery(
  client: HttpClient,
  q: TapQuery,
  store: UwsJobStore,
  o: AsyncTapOptions,
): Promise<AsyncTapResult> {
  const x = new Exchanges(o);
  const via = jobVia(q.tap);
  const start = o.clock.now();
  let polls = 0;
  let jobUrl = store.get();
  let doc: UwsJobDoc | undefined;
  if (jobUrl !== undefined) {
    polls++;
    doc = await readJob(x, client, jobUrl, o, via);
    if (doc !== undefined) store.seen?.(doc.phase);
    if (doc === undefined) o.onInfo?.(`the TAP job ${jobUrl} is gone from the service: creating a new one`);
    else o.onInfo?.(`resuming the TAP job ${jobUrl} (${doc.phase})`);
  }
  if (doc === undefined || jobUrl === undefined) {
    jobUrl = await createJob(x, client, q, o);
    store.set(jobUrl); // before anything else: a killed run resumes this job
    o.onInfo?.(`created the TAP job ${jobUrl}`);
    polls++;
    doc = await readJob(x, client, jobUrl, o, via);
    if (doc === undefined) throw inputError("TAP_JOB", `the TAP job ${jobUrl} vanished right after creation`);
    store.seen?.(doc.phase);
  }
  let quick = 0;
  for (;;) {
    if (doc.phase === "COMPLETED") break;
    if (doc.phase === "ERROR") {
      const why = await jobError(x, client, jobUrl, doc, o, via);
      await deleteUwsJob(client, jobUrl, o.signal, q.tap);
      store.clear();
      throw inputError(
        "TAP_QUERY",
        `the TAP job ${jobUrl} ended in ERROR: ${why || "no error summary given"}`,
      );
    }
    if (FINAL_PHASES.has(doc.phase)) {
      await deleteUwsJob(client, jobUrl, o.signal, q.tap);
      store.clear();
      throw new VocutError(
        "TAP_ABORTED",
        `the TAP job ${jobUrl} ended ${doc.phase}${doc.errorMessage === "" ? "" : `: ${doc.errorMessage}`}; the same command submits it again`,
        ExitCode.RetryLater,
      );
    }
    const waited = o.clock.now() - start;
    if (waited >= o.budgetMs) {
      throw new VocutError(
        "TAP_WAITING",
        `the TAP job ${jobUrl} is still ${doc.phase} after ${Math.round(waited / 1000)} s; it is kept in the ledger: run the same command again to go on waiting for it`,
        ExitCode.RetryLater,
      );
    }
    if (doc.phase === "PENDING") {
      // Created without PHASE=RUN taking effect (or a run killed in between): start it (UWS 2.2.3.1).
      const phaseUrl = `${jobUrl}/phase`;
      await x.send(`starting the TAP job ${jobUrl}`, () =>
        client.postForm(phaseUrl, { PHASE: "RUN" }, { signal: o.signal, redirect: "manual", via }),
      );
    }
    const t0 = o.clock.now();
    const before = doc.phase;
    const wait = Math.max(1, Math.floor(Math.min(o.waitSec, (o.budgetMs - waited) / 1000)));
    const pollUrl = ACTIVE_WAIT.has(before)
      ? withParams(jobUrl, { WAIT: String(wait), PHASE: before })
      : jobUrl;
    polls++;
    const next = await readJob(x, client, pollUrl, o, via);
    if (next === undefined) {
      store.clear();
      throw new VocutError(
        "TAP_JOB_GONE",
        `the TAP job ${jobUrl} disappeared while it was ${before}; the same command submits the query again`,
        ExitCode.RetryLater,
      );
    }
    doc = next;
    store.seen?.(doc.phase);
    // A server that ignores WAIT answers at once with the same phase: back off instead of hammering it.
    if (doc.phase === before && o.clock.now() - t0 < (wait * 1000) / 2) {
      await o.clock.sleep(x.backoff(quick++), o.signal);
    } else quick = 0;
  }
  const resultUrl = `${jobUrl}/results/result`;
  const res = await x.send(`reading the TAP result ${resultUrl}`, () =>
    client.get(resultUrl, { signal: o.signal, via }),
  );
  const answer = await checkTapAnswer(res, resultUrl);
  if ("retry" in answer) {
    throw new VocutError(
      "TAP_RESULT",
      `the TAP result ${resultUrl}: ${answer.retry}; the job is kept: run the same command again`,
      ExitCode.RetryLater,
    );
  }
  return { body: answer.body, jobUrl, polls };
}

/**
 * Delete a job of the service at `tap` (UWS 1.1 section 2.2.3.3), never following the redirect the
 * service answers with (to the job list, which can be huge: pyvo #535). Best effort: returns a note when
 * the service refused or could not be reached (an undeleted job only costs the service until its
 * destruction time).
 */
export async function deleteUwsJob(
  client: HttpClient,
  jobUrl: string,
  signal: AbortSignal,
  tap: string,
): Promise<string | undefined> {
  try {
    const res = await client.delete(jobUrl, { signal, via: jobVia(tap) });
    if (res.status < 400 || res.status === 404) return undefined;
    return `could not delete the TAP job ${jobUrl}: HTTP ${res.status}`;
  } catch (e) {
    return `could not delete the TAP job ${jobUrl}: ${(e as Error).message}`;
  }
}
