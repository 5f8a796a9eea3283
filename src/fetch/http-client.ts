import { readFile, stat } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { Agent, request, errors as undiciErrors } from "undici";
import type { HttpResponse } from "../sources/source.js";
import { classifyError } from "./retry-policy.js";

/** A failed HTTP exchange, with a stable code and whether it is worth retrying. */
export class FetchError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  constructor(code: string, message: string, retryable: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "FetchError";
    this.code = code;
    this.retryable = retryable;
  }
}

export interface HttpClientOptions {
  readonly userAgent: string;
  /** Whole exchange (connect, headers, body), ms. */
  readonly timeoutMs: number;
  /** Largest body accepted, bytes; larger ones are aborted as soon as they are known to be larger. */
  readonly maxBytes: number;
  readonly maxRedirects: number;
  /** Sockets kept per origin (default 16; the pacer limits requests in flight). */
  readonly connectionsPerOrigin?: number;
}

/** GET over one shared keep-alive undici Agent, or from the local disk for file:// URLs. */
export interface HttpClient {
  /** Fetch `url`, following redirects. Resolves for any HTTP status; throws FetchError for transport failures. */
  get(url: string, options?: { signal?: AbortSignal }): Promise<HttpResponse>;
  /** Close all sockets. */
  close(): Promise<void>;
}

/** Error bodies are only read this far: enough for a message, not a way to fill memory. */
const MAX_ERROR_BODY = 64 * 1024;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Create the client. Compression is never requested (`accept-encoding: identity`): no decompression bombs. */
export function createHttpClient(options: HttpClientOptions): HttpClient {
  const agent = new Agent({
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 120_000,
    connections: options.connectionsPerOrigin ?? 16,
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    connect: { timeout: Math.min(options.timeoutMs, 30_000) },
  });
  const headers = { "user-agent": options.userAgent, "accept-encoding": "identity", accept: "*/*" };

  async function once(
    url: URL,
    signal: AbortSignal,
  ): Promise<{ status: number; headers: HttpResponse["headers"]; body: Buffer; location?: string }> {
    const res = await request(url, { method: "GET", headers, signal, dispatcher: agent });
    const status = res.statusCode;
    const h = res.headers as HttpResponse["headers"];
    if (REDIRECTS.has(status) && typeof h.location === "string") {
      await res.body.dump({ limit: MAX_ERROR_BODY });
      return { status, headers: h, body: Buffer.alloc(0), location: h.location };
    }
    const ok = status >= 200 && status < 300;
    const limit = ok ? options.maxBytes : MAX_ERROR_BODY;
    const declared = Number(h["content-length"]);
    if (ok && Number.isFinite(declared) && declared > options.maxBytes) {
      res.body.destroy();
      throw new FetchError(
        "TOO_LARGE",
        `response of ${declared} bytes is over --max-bytes ${options.maxBytes}`,
        false,
      );
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) {
        if (!ok) break; // an error page: the first 64 KiB tell enough
        res.body.destroy();
        throw new FetchError(
          "TOO_LARGE",
          `response is over --max-bytes ${options.maxBytes} (server sent more than it declared)`,
          false,
        );
      }
      chunks.push(chunk);
    }
    if (!ok && size > limit) res.body.destroy();
    return { status, headers: h, body: Buffer.concat(chunks) };
  }

  async function getFile(url: URL): Promise<HttpResponse> {
    let path: string;
    try {
      path = fileURLToPath(url);
    } catch (err) {
      throw new FetchError("BAD_URL", `bad file URL ${url.href}: ${(err as Error).message}`, false, {
        cause: err,
      });
    }
    try {
      const st = await stat(path);
      if (!st.isFile()) return { url: url.href, status: 404, headers: {}, body: Buffer.from("not a file") };
      if (st.size > options.maxBytes) {
        throw new FetchError(
          "TOO_LARGE",
          `${path} is ${st.size} bytes, over --max-bytes ${options.maxBytes}`,
          false,
        );
      }
      return { url: url.href, status: 200, headers: {}, body: await readFile(path) };
    } catch (err) {
      if (err instanceof FetchError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR")
        return { url: url.href, status: 404, headers: {}, body: Buffer.from("no such file") };
      throw new FetchError(
        code ?? "EIO",
        `cannot read ${path}: ${(err as Error).message}`,
        code === "EIO" || code === "EAGAIN",
        { cause: err },
      );
    }
  }

  return {
    async get(rawUrl, opts = {}) {
      let url: URL;
      try {
        url = new URL(rawUrl);
      } catch (err) {
        throw new FetchError("BAD_URL", `not a URL: ${rawUrl}`, false, { cause: err });
      }
      if (url.protocol === "file:") return getFile(url);
      if (url.protocol !== "http:" && url.protocol !== "https:")
        throw new FetchError("BAD_URL", `unsupported URL scheme ${url.protocol}`, false);
      const timeout = AbortSignal.timeout(options.timeoutMs);
      const signal = opts.signal === undefined ? timeout : AbortSignal.any([timeout, opts.signal]);
      const seen = new Set<string>([url.href]);
      try {
        for (let hops = 0; ; hops++) {
          const r = await once(url, signal);
          if (r.location === undefined)
            return { url: url.href, status: r.status, headers: r.headers, body: r.body };
          if (hops >= options.maxRedirects)
            throw new FetchError(
              "TOO_MANY_REDIRECTS",
              `more than ${options.maxRedirects} redirects from ${rawUrl}`,
              false,
            );
          const next = new URL(r.location, url);
          if (next.protocol !== "http:" && next.protocol !== "https:")
            throw new FetchError("BAD_REDIRECT", `redirect to ${next.protocol} refused`, false);
          if (seen.has(next.href))
            throw new FetchError("TOO_MANY_REDIRECTS", `redirect loop at ${next.href}`, false);
          seen.add(next.href);
          url = next;
        }
      } catch (err) {
        if (err instanceof FetchError) throw err;
        if (timeout.aborted)
          throw new FetchError(
            "TIMEOUT",
            `no complete answer within ${options.timeoutMs} ms from ${url.host}`,
            true,
            { cause: err },
          );
        if (opts.signal?.aborted) {
          const e = new Error("aborted", { cause: err });
          e.name = "AbortError";
          throw e;
        }
        if (
          err instanceof undiciErrors.ResponseContentLengthMismatchError ||
          ((err as { code?: string }).code === "UND_ERR_SOCKET" &&
            String((err as Error).message).includes("closed"))
        ) {
          throw new FetchError(
            "TRUNCATED",
            `${url.host} closed the connection before the whole body arrived`,
            true,
            { cause: err },
          );
        }
        const c = classifyError(err);
        throw new FetchError(
          c.code === "UNKNOWN" ? "CONNECTION" : c.code,
          `${url.host}: ${(err as Error).message}`,
          c.retryable,
          { cause: err },
        );
      }
    },
    async close() {
      await agent.close();
    },
  };
}
