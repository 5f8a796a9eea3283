import { classifyStatus, parseRetryAfter } from "../fetch/retry-policy.js";
import { readImage } from "../fits/image.js";
import { validateFits } from "../fits/validate.js";
import type { HttpResponse, Outcome } from "./source.js";

/** Longest server error text kept in the ledger. */
const MAX_ERROR_CHARS = 300;

/** The readable part of an error body: JSON {title, description} (hips2fits), HTML <title>, or text. */
export function errorText(body: Buffer): string {
  const text = body
    .subarray(0, 64 * 1024)
    .toString("utf8")
    .trim();
  if (text.startsWith("{")) {
    try {
      const j = JSON.parse(text) as Record<string, unknown>;
      const parts = [j.title, j.description, j.message, j.error].filter(
        (v) => typeof v === "string" && v !== "",
      );
      if (parts.length > 0) return clip(parts.join(": "));
    } catch {
      // not JSON after all: fall through to plain text
    }
  }
  const title = /<title[^>]*>([^<]*)<\/title>/i.exec(text)?.[1];
  if (title !== undefined) return clip(title.trim());
  return clip(text.replace(/<[^>]+>/g, " ").replace(/\s+/g, " "));
}

function clip(s: string): string {
  return s.length > MAX_ERROR_CHARS ? `${s.slice(0, MAX_ERROR_CHARS)}...` : s;
}

/** True when every pixel of the first image HDU is blank (NaN or BLANK): the position has no coverage. */
export function allBlank(body: Buffer): boolean {
  try {
    const img = readImage(body);
    for (const v of img.data) if (!Number.isNaN(v)) return false;
    return img.data.length > 0;
  } catch {
    return false;
  }
}

/**
 * Shared response policy for sources whose product is the response body: a 200 must validate as FITS
 * (an HTML or JSON page with 200 is a failure, never a product); an all-blank image and 204 are
 * "no coverage"; other statuses are retryable or permanent by the fetch layer's classification, with
 * Retry-After and the server's own error text carried along.
 */
export function interpretFitsBody(res: HttpResponse, options: { blankIsNoCoverage: boolean }): Outcome {
  if (res.status === 204) return { kind: "no_coverage", message: "server answered 204 No Content" };
  if (res.status === 200) {
    const v = validateFits(res.body);
    if (!v.ok) {
      // Proxies and overloaded servers answer 200 with an HTML page: worth another try, never worth saving.
      return { kind: "retryable", code: "NOT_FITS", message: `200 but ${v.message}`, status: 200 };
    }
    if (options.blankIsNoCoverage && allBlank(res.body)) {
      return { kind: "no_coverage", message: "every pixel is blank (outside the survey footprint)" };
    }
    return { kind: "done", body: res.body };
  }
  return interpretFailure(res);
}

/**
 * A non-2xx answer: retryable or permanent by the fetch layer's classification, with Retry-After and the
 * server's own error text carried along.
 */
export function interpretFailure(res: HttpResponse): Outcome {
  const cls = classifyStatus(res.status);
  const detail = errorText(res.body);
  const message = `HTTP ${res.status}${detail ? `: ${detail}` : ""}`;
  if (cls === "retryable") {
    const retryAfterMs = parseRetryAfter(res.headers["retry-after"], res.receivedAtMs);
    return retryAfterMs === undefined
      ? { kind: "retryable", code: `HTTP_${res.status}`, message, status: res.status }
      : { kind: "retryable", code: `HTTP_${res.status}`, message, status: res.status, retryAfterMs };
  }
  return { kind: "permanent", code: `HTTP_${res.status}`, message, status: res.status };
}
