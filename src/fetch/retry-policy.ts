import { DEFAULTS, RETRYABLE_ERROR_CODES, RETRYABLE_STATUSES } from "./defaults.js";

/**
 * Parse a Retry-After header: delta-seconds or an HTTP date. Returns ms from `nowMs` (never negative,
 * capped at DEFAULTS.maxRetryAfterMs), or undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (v === undefined || v === "") return undefined;
  let ms: number;
  if (/^\d+$/.test(v)) ms = Number(v) * 1000;
  else {
    const at = Date.parse(v);
    if (Number.isNaN(at) || !/[a-z]/i.test(v)) return undefined;
    ms = at - nowMs;
  }
  return Math.min(Math.max(0, ms), DEFAULTS.maxRetryAfterMs);
}

/**
 * Full-jitter exponential backoff: a uniform random wait in [0, min(cap, base * 2^attempt)) ms.
 * `attempt` counts from 0 (the wait after the first failure).
 */
export function backoffMs(
  attempt: number,
  random: () => number = Math.random,
  baseMs: number = DEFAULTS.backoffBaseMs,
  capMs: number = DEFAULTS.backoffCapMs,
): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/** What a status means: success, worth retrying, or final. */
export function classifyStatus(status: number): "ok" | "retryable" | "permanent" {
  if (status >= 200 && status < 300) return "ok";
  if (RETRYABLE_STATUSES.has(status)) return "retryable";
  // Unknown 5xx are the server's trouble, not the request's: retry. Everything else (4xx) is final.
  if (status >= 500) return "retryable";
  return "permanent";
}

/** Classify a thrown error from the HTTP layer into a stable code and whether to retry. */
export function classifyError(err: unknown): { code: string; retryable: boolean } {
  const e = err as { code?: unknown; retryable?: unknown; cause?: { code?: unknown } };
  if (typeof e?.retryable === "boolean" && typeof e.code === "string")
    return { code: e.code, retryable: e.retryable };
  const code =
    typeof e?.code === "string" ? e.code : typeof e?.cause?.code === "string" ? e.cause.code : "UNKNOWN";
  return { code, retryable: RETRYABLE_ERROR_CODES.has(code) || code === "UNKNOWN" };
}
