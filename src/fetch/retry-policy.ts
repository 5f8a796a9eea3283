import { DEFAULTS, RETRYABLE_ERROR_CODES, RETRYABLE_STATUSES } from "./defaults.js";

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/** IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (the only form servers should send). */
const IMF_FIXDATE = /^[a-z]{3}, (\d{2}) ([a-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/i;
/** Obsolete RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT". */
const RFC850_DATE = /^[a-z]{6,9}, (\d{2})-([a-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/i;
/** Obsolete asctime: "Sun Nov  6 08:49:37 1994". */
const ASCTIME_DATE = /^[a-z]{3} ([a-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/i;

/** An HTTP-date (RFC 9110 section 5.6.7, all three forms) as epoch ms, or undefined. */
function parseHttpDate(v: string): number | undefined {
  // Normalise the three forms to [day, month, year, hour, minute, second].
  let parts: Array<string | undefined> | undefined;
  const imf = IMF_FIXDATE.exec(v);
  const rfc850 = imf === null ? RFC850_DATE.exec(v) : null;
  const asctime = imf === null && rfc850 === null ? ASCTIME_DATE.exec(v) : null;
  if (imf !== null) parts = [imf[1], imf[2], imf[3], imf[4], imf[5], imf[6]];
  // Two-digit years: the RFC reads them as within 50 years of now; for a wait, that is this century.
  else if (rfc850 !== null) parts = [rfc850[1], rfc850[2], `20${rfc850[3]}`, rfc850[4], rfc850[5], rfc850[6]];
  else if (asctime !== null) parts = [asctime[2], asctime[1], asctime[6], asctime[3], asctime[4], asctime[5]];
  if (parts === undefined) return undefined;
  const month = MONTHS.indexOf(String(parts[1]).toLowerCase());
  const [d, , year, h, min, s] = parts.map((x) => Number(String(x).trim())) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 0 || d < 1 || d > 31 || h > 23 || min > 59 || s > 60) return undefined;
  return Date.UTC(year, month, d, h, min, s);
}

/**
 * Parse a Retry-After header: delta-seconds or an HTTP-date. Returns ms from `nowMs` (epoch ms), never
 * negative (a past date is 0), capped at DEFAULTS.maxRetryAfterMs (1 h); undefined when absent or not
 * one of those forms (e.g. "soon", "-5", "1.5"). For a repeated header the first value counts.
 */
export function parseRetryAfter(
  value: string | readonly string[] | undefined,
  nowMs: number,
  capMs: number = DEFAULTS.maxRetryAfterMs,
): number | undefined {
  const v = (typeof value === "string" ? value : value?.[0])?.trim();
  if (v === undefined || v === "") return undefined;
  let ms: number;
  if (/^\d+$/.test(v)) ms = Number(v) * 1000;
  else {
    const at = parseHttpDate(v);
    if (at === undefined) return undefined;
    ms = at - nowMs;
  }
  return Math.min(Math.max(0, ms), capMs);
}

/**
 * Full-jitter exponential backoff in ms: `random() * min(capMs, baseMs * 2^attempt)`, floored, so a
 * uniform wait in [0, ceiling). `attempt` counts from 0 (the wait after the first failure); defaults
 * are DEFAULTS.backoffBaseMs (1 s) and DEFAULTS.backoffCapMs (60 s). Throws TypeError on a negative or
 * fractional attempt or a negative base/cap.
 */
export function backoffMs(
  attempt: number,
  random: () => number = Math.random,
  baseMs: number = DEFAULTS.backoffBaseMs,
  capMs: number = DEFAULTS.backoffCapMs,
): number {
  if (!Number.isInteger(attempt) || attempt < 0)
    throw new TypeError(`attempt must be a whole number >= 0, got ${attempt}`);
  if (!(baseMs >= 0) || !(capMs >= 0))
    throw new TypeError(`baseMs and capMs must be >= 0, got ${baseMs} and ${capMs}`);
  // 2^attempt is bounded before multiplying so a huge attempt cannot overflow to Infinity * 0 = NaN.
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 52));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.min(Math.floor(r * ceiling), Math.max(0, Math.ceil(ceiling) - 1));
}

/**
 * What an HTTP status means once redirects are followed: "ok" (2xx), "retryable" (408, 425, 429 and
 * every 5xx) or "permanent" (every other status: 4xx, and 1xx/3xx that should not reach here).
 */
export function classifyStatus(status: number): "ok" | "retryable" | "permanent" {
  if (status >= 200 && status < 300) return "ok";
  if (RETRYABLE_STATUSES.has(status)) return "retryable";
  // Unknown 5xx are the server's trouble, not the request's: retry. Everything else (4xx) is final.
  if (status >= 500 && status < 600) return "retryable";
  return "permanent";
}

/**
 * Classify a thrown error into a stable code and whether to retry. A FetchError (anything with a string
 * `code` and boolean `retryable`) keeps its own verdict; a Node/undici error is retryable when its code
 * (or its cause's) is in RETRYABLE_ERROR_CODES; an AbortError is "ABORTED" (retryable: the work was not
 * done); an error with no code at all is "UNKNOWN", not retryable (asking the server again cannot fix it).
 */
export function classifyError(err: unknown): { code: string; retryable: boolean } {
  if (typeof err !== "object" || err === null) return { code: "UNKNOWN", retryable: false };
  const e = err as { code?: unknown; retryable?: unknown; name?: unknown; cause?: { code?: unknown } };
  if (typeof e.retryable === "boolean" && typeof e.code === "string")
    return { code: e.code, retryable: e.retryable };
  if (e.name === "AbortError") return { code: "ABORTED", retryable: true };
  if (e.name === "TimeoutError") return { code: "TIMEOUT", retryable: true };
  const code =
    typeof e.code === "string"
      ? e.code
      : typeof e.cause === "object" && e.cause !== null && typeof e.cause.code === "string"
        ? e.cause.code
        : "UNKNOWN";
  return { code, retryable: RETRYABLE_ERROR_CODES.has(code) };
}
