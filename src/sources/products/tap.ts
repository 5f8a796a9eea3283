import { createHash } from "node:crypto";
import { ExitCode, inputError, usageError, VocutError } from "../../errors.js";
import type { HttpClient, HttpResponse } from "../../fetch/http-client.js";
import { backoffMs, classifyError, classifyStatus, parseRetryAfter } from "../../fetch/retry-policy.js";
import { parseVotable, VotableError } from "../../votable/votable.js";
import { errorText } from "../interpret.js";
import type { TapQuery } from "./products-source.js";

/**
 * Synchronous TAP queries (TAP 1.1 section 2: `{base}/sync`, REQUEST=doQuery, LANG=ADQL, QUERY, MAXREC,
 * RESPONSEFORMAT). The query is POSTed (long ADQL does not fit every URL limit); a 303 to the result is
 * followed. Errors come back as a VOTable with INFO QUERY_STATUS=ERROR, with 200 or an error status.
 */

/** Check a --tap URL and ADQL text; returns the query as stored in the job. Throws a usage error. */
export function tapQuery(tap: string, adql: string, maxrec: string | undefined): TapQuery {
  let u: URL;
  try {
    u = new URL(tap);
  } catch {
    throw usageError("BAD_TAP", `--tap ${JSON.stringify(tap)} is not a URL`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:")
    throw usageError("BAD_TAP", "--tap must be http(s)://");
  if (adql.trim() === "") throw usageError("BAD_QUERY", "--query is empty");
  const base = u.href.replace(/\/+(sync\/?)?$/, "");
  if (maxrec === undefined) return { tap: base, adql };
  const n = Number(maxrec);
  if (!Number.isInteger(n) || n < 0)
    throw usageError("BAD_OPTION", `--maxrec ${maxrec}: a whole number >= 0`);
  return { tap: base, adql, maxrec: n };
}

/** The file a query's result is kept in, inside the output folder: named by a hash of the query. */
export function resultFileName(q: TapQuery): string {
  const h = createHash("sha256")
    .update(JSON.stringify([q.tap, q.adql, q.maxrec ?? null]))
    .digest("hex");
  return `obscore-${h.slice(0, 12)}.xml`;
}

/** The TAP 1.1 parameters of a query (sync and async alike). */
export function queryForm(q: TapQuery): Record<string, string> {
  const form: Record<string, string> = {
    REQUEST: "doQuery",
    LANG: "ADQL",
    QUERY: q.adql,
    RESPONSEFORMAT: "votable",
  };
  if (q.maxrec !== undefined) form.MAXREC = String(q.maxrec);
  return form;
}

/**
 * Run the query and return the result document (a VOTable, checked to parse up to its rows). Retries
 * 429/5xx and connection failures with backoff (honouring Retry-After); a QUERY_STATUS=ERROR is the
 * query's fault (exit 3, with the service's message); a service that keeps failing is exit 5.
 */
export async function runTapQuery(
  client: HttpClient,
  q: TapQuery,
  options: { retries: number; signal: AbortSignal; sleep: (ms: number) => Promise<void> },
): Promise<Buffer> {
  const form = queryForm(q);
  const url = `${q.tap}/sync`;
  let last = "";
  for (let attempt = 0; attempt <= options.retries; attempt++) {
    if (attempt > 0) await options.sleep(backoffMs(attempt - 1, Math.random, 1_000, 60_000));
    let res: Awaited<ReturnType<HttpClient["postForm"]>>;
    try {
      res = await client.postForm(url, form, { signal: options.signal });
    } catch (e) {
      const c = classifyError(e);
      if (!c.retryable)
        throw new VocutError(
          "TAP_FAILED",
          `TAP query to ${url}: ${(e as Error).message}`,
          ExitCode.RetryLater,
        );
      last = (e as Error).message;
      continue;
    }
    const answer = await checkTapAnswer(res, url);
    if ("body" in answer) return answer.body;
    last = answer.retry;
    const wait = parseRetryAfter(res.headers["retry-after"], Date.now());
    if (wait !== undefined && attempt < options.retries) await options.sleep(wait);
  }
  throw new VocutError(
    "TAP_FAILED",
    `TAP query to ${url} failed ${options.retries + 1} time(s), last: ${last}; run the same command later`,
    ExitCode.RetryLater,
  );
}

/**
 * What a TAP answer is: a VOTable result with 200 (`{ body }`), or a failure worth asking again (`{ retry }`
 * with its text: 5xx, 429, an HTML page with 200, a VOTable cut short). Throws inputError TAP_QUERY when the
 * service refused the query (DALI QUERY_STATUS=ERROR, with 200 or an error status, or another 4xx).
 */
export async function checkTapAnswer(
  res: HttpResponse,
  url: string,
): Promise<{ body: Buffer } | { retry: string }> {
  const isVotable = /^\s*(<\?xml|<(\w+:)?VOTABLE)/i.test(res.body.subarray(0, 512).toString("utf8"));
  if (isVotable) {
    // DALI: an error document may come with 200 or 4xx/5xx; its QUERY_STATUS says what went wrong.
    try {
      const t = await parseVotable(res.body);
      for await (const _ of t.rows) {
        // read to the end: a QUERY_STATUS=ERROR after the table throws here
      }
      if (res.status === 200) return { body: res.body };
    } catch (e) {
      if (e instanceof VotableError && e.code === "QUERY_STATUS") {
        throw inputError(
          "TAP_QUERY",
          `the TAP service refused the query: ${e.message.replace(/^the service reported /, "")}`,
        );
      }
      if (res.status === 200) {
        throw new VocutError(
          "TAP_RESULT",
          `TAP result from ${url} is not a readable VOTable: ${(e as Error).message}`,
          ExitCode.RetryLater,
        );
      }
    }
  }
  const detail = errorText(res.body);
  if (res.status === 200) return { retry: `200 but not a VOTable: ${detail}` };
  const last = `HTTP ${res.status}${detail === "" ? "" : `: ${detail}`}`;
  if (classifyStatus(res.status) !== "retryable") {
    throw inputError("TAP_QUERY", `the TAP service at ${url} answered ${last}`);
  }
  return { retry: last };
}
