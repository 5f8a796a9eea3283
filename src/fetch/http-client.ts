import { readFile, stat } from "node:fs/promises";
import { setImmediate } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { Agent, request } from "undici";
import { type Clock, realClock } from "./clock.js";
import type { Authorizer } from "./credentials.js";
import { DEFAULTS } from "./defaults.js";
import { FetchError } from "./fetch-error.js";
import { classifyError } from "./retry-policy.js";
import { type BodySink, rangeHeaders, SinkError, streamInto } from "./stream-body.js";

export { FetchError, type FetchErrorCode } from "./fetch-error.js";

/** One answer, after redirects. */
export interface HttpResponse {
  /** The final URL (after redirects). */
  readonly url: string;
  readonly status: number;
  /** Lower-case header names; repeated headers as arrays. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /**
   * The whole body for 2xx; at most the first 64 KiB of anything else (enough for an error message).
   * Empty for a 2xx streamed into a sink (see `streamedBytes`).
   */
  readonly body: Buffer;
  /** Whether the last hop carried credentials (an Authorization header): tells "refused" from "needed". */
  readonly credentialsSent?: boolean;
  /** For a 2xx streamed into a sink: the whole product's length, bytes held by the sink. */
  readonly streamedBytes?: number;
  /** When the answer was complete, epoch ms by the client's clock (a Retry-After date is read against it). */
  readonly receivedAtMs: number;
}

/** Settings of the client; defaults in DEFAULTS. */
export interface HttpClientOptions {
  /** Sent as is; the caller builds "vocut/0.1.0 (+contact)". */
  readonly userAgent: string;
  /** Whole exchange (connect, headers, body, all redirects), ms. */
  readonly timeoutMs: number;
  /** Largest 2xx body accepted, bytes; larger ones are aborted as soon as they are known to be larger. */
  readonly maxBytes: number;
  /** Redirects followed per request. */
  readonly maxRedirects: number;
  /** Sockets kept per origin (default DEFAULTS.connectionsPerHost = 16; the pacer limits requests in flight). */
  readonly connectionsPerHost?: number;
  /** Credentials asked on every hop (fetch/credentials.ts); none when absent. */
  readonly credentials?: Authorizer;
  /** Stamps each answer's `receivedAtMs` (default the real clock). */
  readonly clock?: Clock;
}

/** A request that goes on from a redirect at `from` (whose hop `sent` credentials or not): see credentials.ts. */
export type Via = { readonly from: string; readonly sent: boolean };

/** GET over one shared keep-alive undici Agent, or from the local disk for file:// URLs. */
export interface HttpClient {
  /**
   * Fetch `url`, following redirects. Resolves for any HTTP status (classify it with classifyStatus);
   * throws FetchError for everything else, AbortError never (an aborted call is FetchError "ABORTED").
   * With a `sink` (http(s) only), a 2xx body is streamed into it instead of returned, resumed with a
   * Range request when the sink holds bytes (fetch/stream-body.ts); then --timeout bounds the wait for
   * the headers and each pause in the body, not the whole transfer.
   */
  get(url: string, options?: { signal?: AbortSignal; sink?: BodySink; via?: Via }): Promise<HttpResponse>;
  /**
   * POST an `application/x-www-form-urlencoded` form (TAP sync queries), following redirects: 301/302/303
   * go on as GET (as browsers do), 307/308 repeat the POST. Same results and errors as get(); http(s) only.
   */
  postForm(
    url: string,
    form: Readonly<Record<string, string>>,
    options?: { signal?: AbortSignal; redirect?: "follow" | "manual"; via?: Via },
  ): Promise<HttpResponse>;
  /**
   * DELETE `url` (a UWS job). A redirect is never followed (pyvo #535: following the 303 after a DELETE
   * downloads the whole job list): the 3xx comes back as the response, its target in `headers.location`.
   */
  delete(url: string, options?: { signal?: AbortSignal; via?: Via }): Promise<HttpResponse>;
  /** Close all sockets; later calls to get() fail. */
  close(): Promise<void>;
}

/** 2xx bodies declared larger than this are copied into one preallocated buffer as they arrive. */
const PREALLOCATE_FROM = 256 * 1024;
/** Error and redirect bodies are only read this far: enough for a message, not a way to fill memory. */
const MAX_ERROR_BODY = 64 * 1024;
const REDIRECTS: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
/** Error codes of a server certificate that cannot be trusted: retrying will not fix them. */
const TLS_CODE = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS|ERR_SSL|HOSTNAME_MISMATCH|ALTNAME/;

function check(ok: boolean, what: string, value: unknown): void {
  if (!ok) throw new TypeError(`${what}, got ${String(value)}`);
}

/**
 * Create the client: one keep-alive undici Agent shared by every request. Compression is never
 * requested (`accept-encoding: identity`), so there is no decompression bomb and maxBytes counts real
 * bytes. Throws TypeError on a bad option.
 */
export function createHttpClient(options: HttpClientOptions): HttpClient {
  const { timeoutMs, maxBytes, maxRedirects } = options;
  const clock = options.clock ?? realClock;
  check(
    typeof options.userAgent === "string" && options.userAgent !== "",
    "userAgent must be a non-empty string",
    options.userAgent,
  );
  check(timeoutMs > 0 && Number.isFinite(timeoutMs), "timeoutMs must be a finite number > 0", timeoutMs);
  check(Number.isInteger(maxBytes) && maxBytes >= 0, "maxBytes must be a whole number >= 0", maxBytes);
  check(
    Number.isInteger(maxRedirects) && maxRedirects >= 0,
    "maxRedirects must be a whole number >= 0",
    maxRedirects,
  );
  const connections = options.connectionsPerHost ?? DEFAULTS.connectionsPerHost;
  check(
    Number.isInteger(connections) && connections >= 1,
    "connectionsPerHost must be a whole number >= 1",
    connections,
  );

  const agent = new Agent({
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 120_000,
    connections,
    // Backstops for the overall timer below: a stalled server is cut off by whichever fires first.
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connect: { timeout: Math.min(timeoutMs, 30_000) },
  });
  const headers = { "user-agent": options.userAgent, "accept-encoding": "identity", accept: "*/*" };
  const credentials = options.credentials;

  /**
   * One hop: the response, or a redirect target. Body errors are TRUNCATED, too-big bodies TOO_LARGE.
   * `hop`: the URL that redirected here and whether it carried credentials (for the next hop's).
   */
  async function once(
    url: URL,
    signal: AbortSignal,
    form: string | undefined,
    hop: { from?: URL; sent: boolean; sink?: BodySink; onBody?: () => void },
    method: "GET" | "DELETE" = "GET",
  ): Promise<Omit<HttpResponse, "receivedAtMs"> & { location?: string }> {
    const auth = credentials?.headersFor(url, hop.from, hop.sent) ?? {};
    const sent = auth.authorization !== undefined;
    const ranged = form === undefined && method === "GET" ? rangeHeaders(hop.sink) : {};
    const asked = ranged.range === undefined ? 0 : (hop.sink?.held ?? 0);
    const res =
      form === undefined
        ? await request(url, {
            method,
            headers: { ...headers, ...auth, ...ranged },
            signal,
            dispatcher: agent,
          })
        : await request(url, {
            method: "POST",
            headers: { ...headers, ...auth, "content-type": "application/x-www-form-urlencoded" },
            body: form,
            signal,
            dispatcher: agent,
          });
    const status = res.statusCode;
    const h = res.headers as HttpResponse["headers"];
    const location = h.location;
    if (REDIRECTS.has(status) && typeof location === "string") {
      // Drain a little so the socket can be reused; a large redirect body just closes it.
      await res.body.dump({ limit: MAX_ERROR_BODY }).catch(() => {});
      return { url: url.href, status, headers: h, body: Buffer.alloc(0), location, credentialsSent: sent };
    }
    const ok = status >= 200 && status < 300;
    if (hop.sink !== undefined && (ok || (status === 416 && asked > 0))) {
      const r = await streamInto(res, url, asked, hop.sink, maxBytes, hop.onBody);
      return { ...r, credentialsSent: sent };
    }
    const declaredRaw = h["content-length"];
    const declared =
      typeof declaredRaw === "string" && /^\d+$/.test(declaredRaw) ? Number(declaredRaw) : undefined;
    if (ok && declared !== undefined && declared > maxBytes) {
      res.body.destroy();
      throw new FetchError(
        "TOO_LARGE",
        `${url.href}: response of ${declared} bytes is over the limit of ${maxBytes} (--max-bytes)`,
        false,
      );
    }
    const limit = ok ? maxBytes : MAX_ERROR_BODY;
    const chunks: Buffer[] = [];
    // A large body of known length is copied into one buffer as it arrives: collecting the chunks and
    // joining them at the end held the body twice (a 300 MiB product peaked at 680 MiB of RSS).
    const whole =
      ok && declared !== undefined && declared > PREALLOCATE_FROM ? Buffer.allocUnsafe(declared) : undefined;
    let size = 0;
    let cut = false;
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (whole !== undefined) {
          if (size + chunk.length > whole.length) {
            res.body.destroy();
            throw new FetchError(
              "TRUNCATED",
              `${url.href}: the server sent more than the ${declared} bytes it declared`,
              true,
            );
          }
          chunk.copy(whole, size);
          size += chunk.length;
          continue;
        }
        if (size + chunk.length > limit) {
          if (ok) {
            res.body.destroy();
            throw new FetchError(
              "TOO_LARGE",
              `${url.href}: response is over the limit of ${maxBytes} bytes (--max-bytes)` +
                (declared === undefined ? "" : `, though the server declared ${declared}`),
              false,
            );
          }
          // An error page: its first 64 KiB tell enough. Leaving the loop destroys the body.
          chunks.push(chunk.subarray(0, limit - size));
          size = limit;
          cut = true;
          break;
        }
        size += chunk.length;
        chunks.push(chunk);
      }
    } catch (err) {
      if (err instanceof FetchError || signal.aborted) throw err;
      const c = classifyError(err);
      if (c.code === "UND_ERR_BODY_TIMEOUT") throw err; // mapped to TIMEOUT by the caller
      throw new FetchError(
        "TRUNCATED",
        `${url.href}: the connection ended after ${size}${declared === undefined ? "" : ` of ${declared}`} bytes (${c.code})`,
        true,
        { cause: err },
      );
    }
    // undici already fails a short body on a closed socket; this is the belt to those braces.
    if (!cut && declared !== undefined && size !== declared && status !== 204 && status !== 304) {
      throw new FetchError("TRUNCATED", `${url.href}: got ${size} of ${declared} declared bytes`, true);
    }
    return {
      url: url.href,
      status,
      headers: h,
      credentialsSent: sent,
      body:
        whole !== undefined
          ? whole.subarray(0, size)
          : chunks.length === 1
            ? (chunks[0] as Buffer)
            : Buffer.concat(chunks, size),
    };
  }

  async function getFile(url: URL, signal: AbortSignal | undefined): Promise<HttpResponse> {
    let path: string;
    try {
      path = fileURLToPath(url);
    } catch (err) {
      throw new FetchError("BAD_URL", `bad file URL ${url.href}: ${(err as Error).message}`, false, {
        cause: err,
      });
    }
    const notFound = (why: string): HttpResponse => ({
      url: url.href,
      status: 404,
      headers: {},
      body: Buffer.from(why),
      receivedAtMs: clock.now(),
    });
    try {
      const st = await stat(path);
      if (!st.isFile()) return notFound("not a file");
      if (st.size > maxBytes) {
        throw new FetchError(
          "TOO_LARGE",
          `${path} is ${st.size} bytes, over the limit of ${maxBytes} (--max-bytes)`,
          false,
        );
      }
      const body = await readFile(path, signal === undefined ? {} : { signal });
      return {
        url: url.href,
        status: 200,
        headers: { "content-length": String(body.length) },
        body,
        receivedAtMs: clock.now(),
      };
    } catch (err) {
      if (err instanceof FetchError) throw err;
      if (signal?.aborted)
        throw new FetchError("ABORTED", `reading ${path} was aborted`, true, { cause: err });
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return notFound("no such file");
      // EIO, EMFILE and friends may pass; EACCES and EISDIR will not.
      const retryable =
        code === "EIO" || code === "EAGAIN" || code === "EMFILE" || code === "ENFILE" || code === "EBUSY";
      throw new FetchError(
        "FILE_READ",
        `cannot read ${path} (${code ?? "?"}): ${(err as Error).message}`,
        retryable,
        { cause: err },
      );
    }
  }

  /** Map anything thrown while talking to a server to a FetchError. */
  function toFetchError(err: unknown, url: URL, timedOut: boolean, aborted: boolean): FetchError {
    if (err instanceof FetchError) return err;
    if (timedOut)
      return new FetchError("TIMEOUT", `${url.href}: no complete answer within ${timeoutMs} ms`, true, {
        cause: err,
      });
    if (aborted) return new FetchError("ABORTED", `${url.href}: aborted`, true, { cause: err });
    const c = classifyError(err);
    const message = `${url.href}: ${(err as Error)?.message ?? String(err)} (${c.code})`;
    if (
      c.code === "UND_ERR_HEADERS_TIMEOUT" ||
      c.code === "UND_ERR_BODY_TIMEOUT" ||
      c.code === "UND_ERR_CONNECT_TIMEOUT"
    )
      return new FetchError("TIMEOUT", message, true, { cause: err });
    if (c.code === "UND_ERR_INVALID_ARG" || c.code === "ERR_INVALID_URL")
      return new FetchError("BAD_URL", message, false, { cause: err });
    // A certificate problem will not go away by asking again in a minute.
    if (TLS_CODE.test(c.code)) return new FetchError("CONNECTION", message, false, { cause: err });
    // Reset, refused, DNS, malformed response: the server's or network's trouble, worth another try.
    return new FetchError("CONNECTION", message, true, { cause: err });
  }

  let closed = false;
  async function exchange(
    rawUrl: string,
    opts: { signal?: AbortSignal; sink?: BodySink; redirect?: "follow" | "manual"; via?: Via },
    form: string | undefined,
    method: "GET" | "DELETE" = "GET",
  ): Promise<HttpResponse> {
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch (err) {
      throw new FetchError("BAD_URL", `not a URL: ${rawUrl}`, false, { cause: err });
    }
    const callerSignal = opts.signal;
    if (callerSignal?.aborted) throw new FetchError("ABORTED", `${url.href}: aborted`, true);
    if (closed) throw new FetchError("CONNECTION", `${url.href}: the HTTP client is closed`, false);
    if (url.protocol === "file:" && form === undefined && method === "GET" && opts.sink === undefined)
      return getFile(url, callerSignal);
    if (url.protocol !== "http:" && url.protocol !== "https:")
      throw new FetchError("BAD_URL", `unsupported URL scheme ${url.protocol} in ${rawUrl}`, false);

    // One controller for the whole exchange: the overall timer and the caller's signal both abort it.
    // (A plain timer and listener, removed at the end, rather than AbortSignal.any/timeout per request.)
    const ac = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort(new Error(`timeout after ${timeoutMs} ms`));
    }, timeoutMs);
    const onAbort = (): void => ac.abort(callerSignal?.reason);
    callerSignal?.addEventListener("abort", onAbort, { once: true });
    const seen = new Set<string>([url.href]);
    let body = form;
    // A streamed body is bounded by undici's bodyTimeout (the longest pause), not by the whole-exchange
    // timer: a 10 GB product takes longer than --timeout to arrive.
    const onBody = (): void => clearTimeout(timer);
    let from: URL | undefined = opts.via === undefined ? undefined : new URL(opts.via.from);
    let sent = opts.via?.sent === true;
    try {
      for (let hops = 0; ; hops++) {
        const r = await once(
          url,
          ac.signal,
          body,
          {
            sent,
            ...(from === undefined ? {} : { from }),
            ...(opts.sink === undefined ? {} : { sink: opts.sink, onBody }),
          },
          method,
        );
        if (r.location === undefined || opts.redirect === "manual") {
          // undici hands the socket back to its pool a macrotask after the body ends; a caller that
          // sends its next request at once would otherwise open a second connection (seen: 2 sockets
          // alternating for sequential requests). One turn of the event loop keeps it to one.
          await setImmediate();
          const { location: _, ...answer } = r;
          return { ...answer, receivedAtMs: clock.now() };
        }
        from = url;
        sent = r.credentialsSent === true;
        let next: URL;
        try {
          next = new URL(r.location, url);
        } catch (err) {
          throw new FetchError(
            "BAD_URL",
            `${url.href} redirects to an unreadable Location ${r.location}`,
            false,
            {
              cause: err,
            },
          );
        }
        if (next.protocol !== "http:" && next.protocol !== "https:")
          throw new FetchError(
            "BAD_URL",
            `${url.href} redirects to ${next.protocol}, which is refused`,
            false,
          );
        if (seen.has(next.href))
          throw new FetchError("TOO_MANY_REDIRECTS", `redirect loop: ${url.href} -> ${next.href}`, false);
        if (hops >= maxRedirects)
          throw new FetchError(
            "TOO_MANY_REDIRECTS",
            `more than ${maxRedirects} redirects from ${rawUrl}`,
            false,
          );
        seen.add(next.href);
        url = next;
        if (r.status !== 307 && r.status !== 308) body = undefined;
      }
    } catch (err) {
      if (err instanceof SinkError) throw err.cause;
      throw toFetchError(err, url, timedOut, callerSignal?.aborted === true);
    } finally {
      clearTimeout(timer);
      callerSignal?.removeEventListener("abort", onAbort);
    }
  }
  return {
    get: (url, opts = {}) => exchange(url, opts, undefined),
    postForm: (url, form, opts = {}) => exchange(url, opts, new URLSearchParams(form).toString()),
    delete: (url, opts = {}) => exchange(url, { ...opts, redirect: "manual" }, undefined, "DELETE"),
    async close() {
      closed = true;
      await agent.close();
    },
  };
}
