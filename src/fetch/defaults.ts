/**
 * Every politeness default in one place (the CLI option table shows the same values).
 * Conservative on purpose: no public cutout service publishes a rate limit.
 */
export const DEFAULTS = {
  /** Requests in flight per host. */
  concurrency: 4,
  /** Requests per second per host. */
  ratePerSec: 5,
  /** Token-bucket burst per host. */
  burst: 5,
  /** Whole-request timeout (headers and body), ms. */
  timeoutMs: 60_000,
  /** Retries per task in one run, after the first attempt. */
  retries: 5,
  /** Full-jitter exponential backoff: base and cap, ms. */
  backoffBaseMs: 1_000,
  backoffCapMs: 60_000,
  /** Largest response accepted, bytes. */
  maxBytes: 100 * 2 ** 20,
  /** Redirects followed per request. */
  maxRedirects: 5,
  /** Longest Retry-After obeyed, ms (a server asking for more is treated as down for now). */
  maxRetryAfterMs: 3_600_000,
  pacer: {
    /** AIMD: factor applied to a host's rate on 429/503, and the floor, req/s. */
    decreaseFactor: 0.5,
    minRatePerSec: 0.05,
    /** AIMD: rate added back per `recoverEvery` successes, req/s. */
    recoverStep: 0.1,
    recoverEvery: 10,
    /** Circuit breaker: consecutive failures that pause a host, and for how long, ms. */
    breakerFailures: 10,
    breakerPauseMs: 60_000,
    /** A host is given up (run ends with exit 5) after this many breaker openings without a success. */
    breakerMaxOpens: 5,
  },
} as const;

/** HTTP statuses worth retrying later. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 425, 429, 500, 502, 503, 504]);

/** Network error codes worth retrying later (DNS failures included: often transient on clusters). */
export const RETRYABLE_ERROR_CODES: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_RES_CONTENT_LENGTH_MISMATCH",
  "TIMEOUT",
  "TRUNCATED",
  "CONNECTION",
]);
