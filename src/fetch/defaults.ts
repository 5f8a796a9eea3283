/**
 * Every politeness default in one place (the CLI option table shows the same values).
 * Conservative on purpose: no public cutout service publishes a rate limit.
 */
export const DEFAULTS = {
  /** Requests in flight per host (p-limit). */
  concurrency: 4,
  /** Requests started per second per host (token bucket rate). */
  ratePerSec: 5,
  /** Requests that may start at once after an idle spell, per host (token bucket size). */
  burst: 1,
  /** Whole-exchange timeout: connect, headers and body of one request incl. redirects, ms. */
  timeoutMs: 60_000,
  /** Retries per task in one run, after the first attempt. */
  retries: 5,
  /** Full-jitter exponential backoff: base wait after the first failure, ms. */
  backoffBaseMs: 1_000,
  /** Full-jitter exponential backoff: the largest wait, ms. */
  backoffCapMs: 60_000,
  /** Largest response body accepted, bytes (100 MiB). */
  maxBytes: 100 * 2 ** 20,
  /**
   * Largest archive product accepted (vocut obscore), bytes (1 GiB): spectra and images run to hundreds of
   * MB, and a body is held in memory until it is checked and written.
   */
  productMaxBytes: 2 ** 30,
  /** --store tar: a tar file is closed at this many bytes (1 GiB; also at 100,000 members). */
  tarBytes: 2 ** 30,
  /** Redirects followed per request. */
  maxRedirects: 5,
  /** Async TAP (UWS): WAIT of each blocking poll, s (capped at half of --timeout so a poll never times out). */
  uwsWaitSec: 30,
  /** Async TAP (UWS): longest one run waits for a job, ms (1 h); the job is kept for the next run. */
  uwsBudgetMs: 3_600_000,
  /** Longest Retry-After obeyed, ms (1 h); longer requests are clamped, and pile up towards host-down. */
  maxRetryAfterMs: 3_600_000,
  /** Sockets kept open per origin by the shared agent (the pacer is what limits requests in flight). */
  connectionsPerHost: 16,
  /**
   * The per-host controller (src/fetch/host-controller.ts). --rate and --concurrency are ceilings; these
   * say how it moves below them. Times are chosen for servers answering in 10 ms to a few seconds.
   */
  pacer: {
    /** On 429/503 the rate becomes this fraction of the measured send rate (CUBIC and AWS adaptive: 0.7). */
    decreaseFactor: 0.7,
    /** The lowest rate a throttled host is slowed to, req/s (never above the configured rate). */
    minRatePerSec: 0.1,
    /**
     * Time after a throttle to grow back to the rate at the throttle, ms (CUBIC K). Short, because a
     * throttle is often a burst and because random throttles must not ratchet the rate down: 2 s.
     */
    recoverMs: 2_000,
    /**
     * Time spent near the rate at the throttle before the probe above it reaches +10%, ms (then +80% after
     * twice as long). Long, because each throttle costs a Retry-After pause of the whole host: with a 1 s
     * pause, one throttle per 10 s already costs 10% of the server's allowance.
     */
    probeMs: 10_000,
    /** The window grows by one per round trip while fewer requests than this wait at the server. */
    queueLow: 1,
    /** The window shrinks when more requests than this wait at the server (2: at most two service times queued). */
    queueHigh: 2,
    /** The no-load latency is re-measured (window halved for two round trips) when older than this, ms. */
    minRttTtlMs: 30_000,
    /** Circuit breaker: consecutive failures (connection errors, 5xx, 429) that open it. */
    breakerFailures: 10,
    /** Circuit breaker: how long an open breaker pauses the host before one probe request, ms. */
    breakerPauseMs: 60_000,
    /** The host is given up (run ends with exit 5) after this many breaker openings without a success. */
    breakerMaxOpens: 5,
    /**
     * The host is given up once it has been paused (breaker + Retry-After) this long in total without
     * a success in between, ms (30 min); a single Retry-After that long gives it up at once.
     */
    hostDownAfterMs: 30 * 60_000,
  },
} as const;

/**
 * HTTP statuses worth retrying later. Any other 5xx is retryable too; every other 4xx (400, 401, 403,
 * 404, 405, 410, 414, 422, ...) is permanent: asking again would get the same answer.
 */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 425, 429, 500, 502, 503, 504]);

/** Statuses that mean "slow down" (a load signal: the controller lowers the rate) rather than "broken". */
export const THROTTLE_STATUSES: ReadonlySet<number> = new Set([429, 503]);

/**
 * Network error codes worth retrying later. DNS failures (ENOTFOUND, EAI_AGAIN) are included: on
 * clusters they are usually a resolver hiccup, and the circuit breaker stops a host that really is gone.
 * The FetchError codes TIMEOUT, TRUNCATED, CONNECTION and ABORTED are listed so that re-classifying
 * a FetchError by code alone gives the same answer.
 */
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
  "ENETDOWN",
  "EHOSTDOWN",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_RES_CONTENT_LENGTH_MISMATCH",
  "TIMEOUT",
  "TRUNCATED",
  "CONNECTION",
  "ABORTED",
]);
