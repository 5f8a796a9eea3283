/** Stable codes of FetchError (what went wrong, for the ledger and for scripts). */
export type FetchErrorCode =
  /** The body is (or would be) larger than maxBytes. Permanent. */
  | "TOO_LARGE"
  /** More than maxRedirects redirects, or a redirect loop. Permanent. */
  | "TOO_MANY_REDIRECTS"
  /** No complete answer within timeoutMs. Retryable. */
  | "TIMEOUT"
  /** The connection ended before the whole body arrived. Retryable. */
  | "TRUNCATED"
  /** Connecting or talking to the server failed before a response (reset, refused, DNS). Usually retryable. */
  | "CONNECTION"
  /** The caller's signal aborted the request. Retryable (the work was not done). */
  | "ABORTED"
  /** Not a URL, an unsupported scheme (also as a redirect target), or an unusable file:// URL. Permanent. */
  | "BAD_URL"
  /** A file:// URL could not be read for a reason other than absence (permissions, I/O). */
  | "FILE_READ"
  /** A 200 body its caller refused (a VOTable reporting QUERY_STATUS=ERROR). Permanent. */
  | "REFUSED"
  /** A Range request answered with a 206 that does not fit (or a 416): retryable, from byte 0. */
  | "BAD_RANGE";

/** A failed exchange, with a stable `code` and whether it is worth retrying. */
export class FetchError extends Error {
  readonly code: FetchErrorCode;
  readonly retryable: boolean;
  /** Throws nothing; `cause` keeps the underlying undici/Node error. */
  constructor(code: FetchErrorCode, message: string, retryable: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "FetchError";
    this.code = code;
    this.retryable = retryable;
  }
}
