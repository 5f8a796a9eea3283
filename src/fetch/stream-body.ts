/**
 * A 2xx body streamed into a sink as it arrives (archive products: no body is held whole in memory),
 * with resume: after a cut, the next request asks `Range: bytes=N-` (RFC 9110 section 14) from the
 * bytes the sink holds, when the server said `Accept-Ranges: bytes`. A 206 must carry a Content-Range
 * that starts at N and runs to the end; a 200 to a Range request restarts from byte 0.
 */

import type { Dispatcher } from "undici";
import { FetchError } from "./fetch-error.js";
import { classifyError } from "./retry-policy.js";

type Headers = Readonly<Record<string, string | string[] | undefined>>;

/** Where a streamed body goes (output/product-download.ts writes it to a temp file, hashing on the way). */
export interface BodySink {
  /**
   * Bytes held from an earlier answer of this URL that was cut: > 0 asks for the rest with a Range
   * request. 0 when the server did not offer ranges (the sink then starts over).
   */
  readonly held: number;
  /** Strong ETag or Last-Modified of the held bytes, sent as If-Range (a changed product comes whole). */
  readonly validator: string | undefined;
  /** A 2xx body starts: keep the first `from` bytes held (0 = start over), note what the server offers. */
  start(info: {
    readonly from: number;
    readonly total: number | undefined;
    readonly validator: string | undefined;
    readonly ranges: boolean;
  }): Promise<void>;
  /** Append a chunk (awaited: the socket is not read faster than the disk takes it). */
  write(chunk: Buffer): Promise<void>;
  /** Forget the held bytes: the next answer starts from 0 (a refused or mismatched range). */
  discard(): Promise<void>;
}

/**
 * A sink's own failure (a full disk while writing the temp file): the client throws its `cause` as it
 * is, so the caller sees a disk error, not a network one.
 */
export class SinkError extends Error {
  constructor(cause: unknown) {
    super("the body's sink failed", { cause });
    this.name = "SinkError";
  }
}

async function sinkCall(f: () => Promise<void>): Promise<void> {
  try {
    await f();
  } catch (err) {
    throw new SinkError(err);
  }
}

/** The Range request headers for a sink holding bytes, else none. */
export function rangeHeaders(sink: BodySink | undefined): Record<string, string> {
  if (sink === undefined || sink.held <= 0) return {};
  const h: Record<string, string> = { range: `bytes=${sink.held}-` };
  if (sink.validator !== undefined) h["if-range"] = sink.validator;
  return h;
}

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The validator a later If-Range may send: a strong ETag, else Last-Modified; weak ETags do not count. */
export function validatorOf(headers: Headers): string | undefined {
  const etag = one(headers.etag);
  if (etag !== undefined && /^"[^"]*"$/.test(etag)) return etag;
  return one(headers["last-modified"]);
}

/**
 * Where the body of a 2xx answer starts and how long the whole product is, or why the answer cannot be
 * used (then the caller discards the held bytes and the next try starts from 0).
 * `asked`: the first byte asked for (0 = no Range sent).
 */
export function placeBody(
  status: number,
  headers: Headers,
  asked: number,
): { from: number; total: number | undefined } | { error: string } {
  const lengthRaw = one(headers["content-length"]);
  const length = lengthRaw !== undefined && /^\d+$/.test(lengthRaw) ? Number(lengthRaw) : undefined;
  if (status !== 206) return { from: 0, total: length };
  if (asked === 0) return { error: "206 Partial Content to a request without Range" };
  const range = one(headers["content-range"]) ?? "";
  const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/.exec(range.trim());
  if (m === null) return { error: `206 with an unreadable Content-Range ${JSON.stringify(range)}` };
  const first = Number(m[1]);
  const last = Number(m[2]);
  const total = m[3] === "*" ? undefined : Number(m[3]);
  if (first !== asked)
    return { error: `asked for bytes from ${asked}, the server sent Content-Range ${range}` };
  if (total === undefined || last !== total - 1 || last < first)
    return { error: `asked for bytes ${asked} to the end, the server sent Content-Range ${range}` };
  if (length !== undefined && length !== last - first + 1)
    return { error: `Content-Range ${range} but Content-Length ${length}` };
  return { from: first, total };
}

/**
 * A 2xx body (or a 416 to a Range request) into `sink`: placed by its Content-Range, bounded by
 * maxBytes, each chunk written before the next is read. A cut is TRUNCATED (the sink keeps what came);
 * a range that does not fit is BAD_RANGE and the sink's bytes are discarded.
 */
export async function streamInto(
  res: Dispatcher.ResponseData,
  url: URL,
  asked: number,
  sink: BodySink,
  maxBytes: number,
  onBody: (() => void) | undefined,
): Promise<{ url: string; status: number; headers: Headers; body: Buffer; streamedBytes: number }> {
  const status = res.statusCode;
  const h = res.headers as Headers;
  const place = status === 416 ? { error: "416 Range Not Satisfiable" } : placeBody(status, h, asked);
  if ("error" in place) {
    res.body.destroy();
    await sinkCall(() => sink.discard());
    throw new FetchError("BAD_RANGE", `${url.href}: ${place.error}; starting over from byte 0`, true);
  }
  const { from, total } = place;
  if (total !== undefined && total > maxBytes) {
    res.body.destroy();
    throw new FetchError(
      "TOO_LARGE",
      `${url.href}: product of ${total} bytes is over the limit of ${maxBytes} (--max-bytes)`,
      false,
    );
  }
  const accept = h["accept-ranges"];
  const ranges = /\bbytes\b/i.test(Array.isArray(accept) ? accept.join(",") : (accept ?? ""));
  await sinkCall(() => sink.start({ from, total, validator: validatorOf(h), ranges }));
  onBody?.();
  let size = from;
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      if (size + chunk.length > maxBytes || (total !== undefined && size > total)) {
        throw total !== undefined && size + chunk.length > total
          ? new FetchError(
              "TRUNCATED",
              `${url.href}: the server sent more than the ${total} bytes it declared`,
              true,
            )
          : new FetchError(
              "TOO_LARGE",
              `${url.href}: product is over the limit of ${maxBytes} bytes (--max-bytes)`,
              false,
            );
      }
      await sinkCall(() => sink.write(chunk));
      size += chunk.length;
    }
  } catch (err) {
    res.body.destroy();
    if (err instanceof FetchError || err instanceof SinkError) throw err;
    const c = classifyError(err);
    if (c.code === "UND_ERR_BODY_TIMEOUT") throw err; // mapped to TIMEOUT by the caller
    throw new FetchError(
      "TRUNCATED",
      `${url.href}: the connection ended after ${size}${total === undefined ? "" : ` of ${total}`} bytes (${c.code})`,
      true,
      { cause: err },
    );
  }
  if (total !== undefined && size !== total)
    throw new FetchError("TRUNCATED", `${url.href}: got ${size} of ${total} bytes`, true);
  return { url: url.href, status, headers: h, body: Buffer.alloc(0), streamedBytes: size };
}
