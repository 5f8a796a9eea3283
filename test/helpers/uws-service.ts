import type { IncomingMessage, ServerResponse } from "node:http";
import type { Clock } from "../../src/fetch/clock.js";

/**
 * The async side of the test TAP service, as DaCHS does it (UWS 1.1): `POST /tap/async` creates a job
 * and answers 303 to `/__system__/tap/run/async/<id>`; `POST <job>/phase` PHASE=RUN starts it (303 back
 * to the job); `GET <job>?WAIT=n&PHASE=p` blocks while the job is in phase p, up to n seconds of the
 * server's clock; `GET <job>/results/result`, `GET <job>/error`; `DELETE <job>` answers 303 to the job
 * list, and every GET of the job list is counted (a client must not follow that redirect). A job runs
 * the ADQL when it starts; it is EXECUTING for `jobMs` of the clock (or until complete() is called).
 */

export interface UwsJob {
  readonly id: string;
  phase: string;
  readonly form: URLSearchParams;
  startedAt?: number;
  result?: string;
  error?: string;
  deleted: boolean;
  /** Requests for the job document (blocking or not). */
  polls: number;
  /** Polls that carried WAIT. */
  waits: number;
}

export interface UwsService {
  readonly jobs: Map<string, UwsJob>;
  /** Jobs created by POST /tap/async. */
  created(): number;
  /** GETs of the job list (what following the redirect of a DELETE asks for). */
  readonly listGets: { n: number };
  /** DELETE requests received. */
  readonly deletes: { n: number };
  /** Faults for the next job-document requests: "reset" drops the connection, "503" answers 503. */
  readonly pollFaults: string[];
  /** Complete every executing job now (manual mode), waking blocked polls. */
  complete(): void;
  /** Make the next job end in ERROR with this message instead of running. */
  failNext(message: string): void;
  /** Resolves when the next blocking poll is being held (the client is waiting for the job). */
  heldPoll(): Promise<void>;
  /** Answer held polls and stop. */
  release(): void;
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>;
}

const LIST = "/__system__/tap/run/async";

/**
 * A job document as DaCHS 2.7 writes it (seen on a real service): a stylesheet PI and no XML declaration,
 * `uws:` prefixed, nil owner and start time, the parameters in lower case, served as text/xml.
 */
function jobXml(base: string, j: UwsJob): string {
  const results =
    j.phase === "COMPLETED"
      ? `<uws:results><uws:result id="result" xlink:href="${base}${LIST}/${j.id}/results/result"/></uws:results>`
      : "<uws:results/>";
  const error =
    j.error === undefined
      ? ""
      : `<uws:errorSummary type="fatal" hasDetail="true"><uws:message>${j.error.replace(/&/g, "&amp;").replace(/</g, "&lt;")}</uws:message></uws:errorSummary>`;
  const params = [...j.form.entries()]
    .filter(([k]) => k.toUpperCase() !== "PHASE")
    .map(
      ([k, v]) =>
        `<uws:parameter id="${k.toLowerCase()}">${v.replace(/&/g, "&amp;").replace(/</g, "&lt;")}</uws:parameter>`,
    )
    .join("");
  return `<?xml-stylesheet href='/static/xsl/tap-job-to-html.xsl' type='text/xsl'?><uws:job version="1.1" xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><uws:jobId>${j.id}</uws:jobId><uws:ownerId xsi:nil="true"></uws:ownerId><uws:phase>${j.phase}</uws:phase><uws:quote>2026-12-03T17:42:50Z</uws:quote><uws:startTime xsi:nil="true"></uws:startTime><uws:endTime xsi:nil="true"></uws:endTime><uws:executionDuration>3600</uws:executionDuration><uws:destruction>2026-12-05T17:42:50Z</uws:destruction><uws:parameters>${params}</uws:parameters>${results}${error}</uws:job>`;
}

/** DaCHS's body of a 303: an HTML page (text/html on creation, text/xml on DELETE, as it labels them). */
function seeOther(res: ServerResponse, to: string, type: string): void {
  res
    .writeHead(303, { location: to, "content-type": type })
    .end(
      `<html xmlns="http://www.w3.org/1999/xhtml"><head><title>See Other</title></head><body><h1>See Other (303)</h1><p>Please turn to a <a href="${to}">different URL</a> to go on.</p></body></html>`,
    );
}

async function formOf(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

export function uwsService(o: {
  clock: Clock;
  jobMs?: number;
  /** Answer every poll at once, WAIT or not (what pyvo #440 met). */
  ignoreWait?: boolean;
  /**
   * Leave a job PENDING after a creation with PHASE=RUN (the client must POST phase=RUN): what DaCHS 2.7
   * does (scripts/dachs-check.sh saw `PENDING` in the first job document).
   */
  ignoreRunOnCreate?: boolean;
  run: (adql: string, maxrec?: number) => { doc: string; error?: string };
  base: () => string;
}): UwsService {
  const jobs = new Map<string, UwsJob>();
  const listGets = { n: 0 };
  const deletes = { n: 0 };
  const pollFaults: string[] = [];
  let failNext: string | undefined;
  const held: Array<() => void> = [];
  let wakers: Array<() => void> = [];
  const wake = (): void => {
    const w = wakers;
    wakers = [];
    for (const f of w) f();
  };
  const stop = new AbortController();

  /** The phase as of now: an executing job with a duration completes by the clock. */
  const settle = (j: UwsJob): void => {
    if (j.phase === "EXECUTING" && o.jobMs !== undefined && o.clock.now() - (j.startedAt ?? 0) >= o.jobMs) {
      j.phase = j.error === undefined ? "COMPLETED" : "ERROR";
    }
  };
  const start = (j: UwsJob): void => {
    if (j.phase !== "PENDING") return;
    j.phase = "EXECUTING";
    j.startedAt = o.clock.now();
    if (failNext !== undefined) {
      j.error = failNext;
      failNext = undefined;
      return;
    }
    const maxrec = j.form.has("MAXREC") ? Number(j.form.get("MAXREC")) : undefined;
    const r = o.run(j.form.get("QUERY") ?? "", maxrec);
    if (r.error !== undefined) j.error = r.error;
    else j.result = r.doc;
  };

  async function handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const base = o.base();
    if (url.pathname === "/tap/async" && req.method === "POST") {
      const form = await formOf(req);
      const j: UwsJob = {
        id: `j${jobs.size + 1}`,
        phase: "PENDING",
        form,
        deleted: false,
        polls: 0,
        waits: 0,
      };
      jobs.set(j.id, j);
      if (form.get("PHASE")?.toUpperCase() === "RUN" && o.ignoreRunOnCreate !== true) start(j);
      seeOther(res, `${base}${LIST}/${j.id}`, "text/html");
      return true;
    }
    if (url.pathname === LIST && req.method === "GET") {
      listGets.n++;
      res
        .writeHead(200, { "content-type": "text/xml" })
        .end(
          `<?xml-stylesheet href='/static/xsl/tap-joblist-to-html.xsl' type='text/xsl'?><uws:jobs version="1.1" xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0"/>`,
        );
      return true;
    }
    const m = /^\/__system__\/tap\/run\/async\/([^/]+)(\/.*)?$/.exec(url.pathname);
    if (m === null) return false;
    const j = jobs.get(m[1] ?? "");
    const rest = m[2] ?? "";
    if (j === undefined || j.deleted) {
      res.writeHead(404, { "content-type": "text/plain" }).end("no such job");
      return true;
    }
    if (req.method === "DELETE" && rest === "") {
      deletes.n++;
      j.deleted = true;
      seeOther(res, `${base}${LIST}`, "text/xml");
      return true;
    }
    if (req.method === "POST" && rest === "/phase") {
      const form = await formOf(req);
      if (form.get("PHASE")?.toUpperCase() === "RUN") start(j);
      res.writeHead(303, { location: `${base}${LIST}/${j.id}`, "content-type": "text/plain" }).end();
      return true;
    }
    if (req.method !== "GET") return false;
    if (rest === "") {
      j.polls++;
      const fault = pollFaults.shift();
      if (fault === "reset") {
        req.socket.destroy();
        return true;
      }
      if (fault === "503") {
        res.writeHead(503, { "content-type": "text/plain" }).end("busy");
        return true;
      }
      settle(j);
      const wait = Number(url.searchParams.get("WAIT") ?? "0");
      const inPhase = url.searchParams.get("PHASE");
      if (
        wait > 0 &&
        o.ignoreWait !== true &&
        (inPhase === null || inPhase === j.phase) &&
        !["COMPLETED", "ERROR"].includes(j.phase)
      ) {
        j.waits++;
        const until =
          o.jobMs === undefined
            ? wait * 1000
            : Math.min(wait * 1000, (j.startedAt ?? 0) + o.jobMs - o.clock.now());
        // Its own abort, so a poll answered early leaves no timer behind on the (virtual) clock.
        const ac = new AbortController();
        const onStop = (): void => ac.abort();
        stop.signal.addEventListener("abort", onStop, { once: true });
        let closed = (): void => {};
        await new Promise<void>((resolve) => {
          closed = resolve;
          wakers.push(resolve);
          req.socket.once("close", closed);
          o.clock.sleep(until, ac.signal).then(resolve, resolve);
          for (const h of held.splice(0)) h();
        });
        req.socket.removeListener("close", closed);
        ac.abort();
        stop.signal.removeEventListener("abort", onStop);
        settle(j);
      }
      res.writeHead(200, { "content-type": "text/xml" }).end(jobXml(base, j));
      return true;
    }
    if (rest === "/phase") {
      settle(j);
      res.writeHead(200, { "content-type": "text/plain" }).end(j.phase);
      return true;
    }
    if (rest === "/results/result" && j.phase === "COMPLETED" && j.result !== undefined) {
      res
        .writeHead(200, {
          "content-type": "application/x-votable+xml",
          "accept-ranges": "bytes",
          "content-length": String(Buffer.byteLength(j.result)),
        })
        .end(j.result);
      return true;
    }
    if (rest === "/error" && j.error !== undefined) {
      res.writeHead(200, { "content-type": "text/plain" }).end(j.error);
      return true;
    }
    res.writeHead(404, { "content-type": "text/plain" }).end("not here");
    return true;
  }

  return {
    jobs,
    created: () => jobs.size,
    listGets,
    deletes,
    pollFaults,
    complete() {
      for (const j of jobs.values())
        if (j.phase === "EXECUTING") j.phase = j.error === undefined ? "COMPLETED" : "ERROR";
      wake();
    },
    failNext(message) {
      failNext = message;
    },
    heldPoll: () => new Promise<void>((r) => held.push(r)),
    release() {
      stop.abort();
      wake();
    },
    handle,
  };
}
