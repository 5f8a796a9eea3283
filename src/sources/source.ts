import type { Target } from "../catalog/types.js";
import type { HttpResponse } from "../fetch/http-client.js";

/** Output stamp geometry shared by every source. */
export interface Geometry {
  /** Stamp width in pixels. */
  readonly widthPx: number;
  /** Stamp height in pixels. */
  readonly heightPx: number;
  /** Pixel scale in arcseconds per pixel. */
  readonly pixscaleArcsec: number;
}

/** One HTTP GET that produces one product. Built purely from a target and band (no I/O). */
export interface CutoutRequest {
  readonly url: string;
  /** Alternative URLs (mirrors) tried in order when the primary host is down. */
  readonly fallbackUrls?: readonly string[];
}

/** What a source makes of one HTTP response. */
export type Outcome =
  | { readonly kind: "done"; readonly body: Buffer }
  | { readonly kind: "no_coverage"; readonly message: string }
  | {
      readonly kind: "retryable";
      readonly code: string;
      readonly message: string;
      readonly status?: number;
      /** Server-requested wait (Retry-After), in ms from now. */
      readonly retryAfterMs?: number;
    }
  | { readonly kind: "permanent"; readonly code: string; readonly message: string; readonly status?: number };

/** A response as the fetch layer hands it to a source (defined once, in the fetch layer). */
export type { HttpResponse } from "../fetch/http-client.js";

/**
 * A cutout source: pure request building plus interpretation of the response.
 * Sources never touch the ledger or the disk.
 */
export interface Source {
  /** Source kind, e.g. "hips2fits" or "template". */
  readonly kind: string;
  /** Band labels in job order. */
  readonly bands: readonly string[];
  /** The parameters that define this job's products; stored in the ledger and compared on resume. */
  describe(): Readonly<Record<string, unknown>>;
  /** Build the request for one target and band. Pure. */
  request(target: Target, band: string): CutoutRequest;
  /** Turn a response into an outcome. A body is only "done" if it is a valid FITS file. */
  interpret(response: HttpResponse): Outcome;
}
