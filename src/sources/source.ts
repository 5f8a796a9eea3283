import type { ProductRef, Target } from "../catalog/types.js";
import type { HttpResponse } from "../fetch/http-client.js";
import type { ImageIndexStore } from "../ledger/image-index.js";

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

/**
 * A 2xx body the run streamed to a temp file instead of memory (RequestSource.streams): its length and a
 * reader of any part of it.
 */
export interface StoredBody {
  readonly bytes: number;
  readAt(offset: number, length: number): Promise<Buffer>;
}

/** What a source makes of one HTTP response. */
export type Outcome =
  | { readonly kind: "done"; readonly body: Buffer }
  /** The StoredBody handed to interpret() is the product, checked: the run puts its file in place. */
  | { readonly kind: "stored" }
  | { readonly kind: "no_coverage"; readonly message: string }
  | {
      readonly kind: "retryable";
      readonly code: string;
      readonly message: string;
      readonly status?: number;
      /** Server-requested wait (Retry-After), in ms from now. */
      readonly retryAfterMs?: number;
    }
  | { readonly kind: "permanent"; readonly code: string; readonly message: string; readonly status?: number }
  /** The response points at the product (a DataLink document): fetch `product` next, same task. */
  | { readonly kind: "follow"; readonly product: ProductRef; readonly message: string };

/** A response as the fetch layer hands it to a source (defined once, in the fetch layer). */
export type { HttpResponse } from "../fetch/http-client.js";

/**
 * A cutout source that asks one URL per product: pure request building plus interpretation of the
 * response. Never touches the ledger or the disk.
 */
export interface RequestSource {
  /** Source kind, e.g. "hips2fits" or "template". */
  readonly kind: string;
  /** Largest answer accepted when --max-bytes is not given, bytes (DEFAULTS.maxBytes when absent). */
  readonly defaultMaxBytes?: number;
  /** Band labels in job order. */
  readonly bands: readonly string[];
  /** The parameters that define this job's products; stored in the ledger and compared on resume. */
  describe(): Readonly<Record<string, unknown>>;
  /** Build the request for one target and band. Pure. */
  request(target: Target, band: string): CutoutRequest;
  /**
   * Turn a response into an outcome. A cutout is only "done" if it is a valid FITS file; an archive
   * product if it is what its format says. `target` carries the product being fetched (after any
   * "follow").
   */
  interpret(response: HttpResponse, target: Target, stored?: StoredBody): Outcome | Promise<Outcome>;
  /**
   * Archive products: a 2xx body of a known type (extension() defined) is streamed to a temp file as it
   * arrives, resumed with Range requests after a cut, and handed to interpret() as `stored` (its
   * `response.body` is then empty). Cutout sources leave this out: their small bodies come in memory.
   */
  readonly streams?: boolean;
  /**
   * Archive products: the extension of the target's file (`{ext}` in the layout); undefined when it is
   * known only after a "follow". Cutout sources leave this out (".fits").
   */
  extension?(target: Target): string | undefined;
  /** Whether a file a killed run left in place is a complete product (default: a valid FITS file). */
  adoptable?(body: Buffer, ext: string): boolean;
  /** adoptable() for a file too large to read whole (over VALIDATION_WINDOW). */
  adoptableStored?(stored: StoredBody, ext: string): Promise<boolean>;
}

/**
 * Fetches a resource shared by many tasks (a HiPS tile) at most once per job; null = 404 (absent).
 * Bodies are validated as FITS unless `fits` is false (e.g. a HiPS properties file).
 */
export type SharedGet = (
  url: string,
  signal: AbortSignal,
  options?: {
    fits?: boolean;
    /**
     * Check a 200 body before it is kept (e.g. a VOTable with QUERY_STATUS=ERROR): a message refuses it,
     * and the fetch fails permanently with that message, caching nothing.
     */
    accept?: (body: Buffer) => string | undefined;
  },
) => Promise<Buffer | null>;

/** What a producing source may use while it prepares. */
export interface PrepareOptions {
  /** Bound of its in-memory cache (decoded tiles or images), bytes. */
  readonly memoryBytes?: number;
  /**
   * The job ledger's image index (`--images`: files indexed once, re-read only when they change); a dry
   * run passes a throw-away one in memory.
   */
  readonly imageIndex?: ImageIndexStore;
  /** One-line progress notes for the user. */
  readonly info?: (message: string) => void;
}

/**
 * One paced GET for a product no other task shares (a SODA cutout): no caching, no retries (the task
 * loop retries a "retryable" outcome). Resolves with any HTTP status; throws FetchError otherwise.
 */
export type DirectGet = (url: string, signal: AbortSignal) => Promise<HttpResponse>;

/**
 * A source that computes each product from shared resources (client-side HiPS cutouts: tiles fetched
 * once per job through `shared`, or read from a local directory). Throws FetchError for fetch failures.
 */
export interface ProducerSource {
  readonly kind: string;
  readonly bands: readonly string[];
  describe(): Readonly<Record<string, unknown>>;
  /**
   * Load what the source needs before any task (HiPS properties; the image index); `memoryBytes` bounds
   * its in-memory cache. Throws VocutError.
   */
  prepare(shared: SharedGet, signal: AbortSignal, options?: PrepareOptions): Promise<void>;
  /** Processing-order key of a target (neighbours share resources). */
  sortKey(target: Target): number;
  /** The extension of `band`'s product files (default ".fits"). Needs prepare(). */
  extension?(band: string): string;
  /** Whether a file a killed run left in place is a complete product (default: a valid FITS file). */
  adoptable?(body: Buffer, ext: string): boolean;
  /**
   * A comparison of the ways to fetch this job (HiPS: tiles against one hips2fits request per stamp) at
   * `ratePerSec`: add every target, then lines() for the user. Needs prepare().
   */
  modeComparison?(ratePerSec: number): ModeTally;
  /** One line for `plan --dry-run`: what this task will read. Needs prepare(). */
  describeTask(target: Target, band: string): string;
  /** Compute the product. */
  produce(
    target: Target,
    band: string,
    shared: SharedGet,
    signal: AbortSignal,
    direct: DirectGet,
  ): Promise<Outcome>;
}

/** Accumulates a job's targets for a comparison of fetch modes (ProducerSource.modeComparison). */
export interface ModeTally {
  add(target: Target): void;
  lines(): string[];
}

/** Any source. */
export type Source = RequestSource | ProducerSource;

/** Whether a source computes its products (as opposed to asking one URL each). */
export function isProducer(s: Source): s is ProducerSource {
  return "produce" in s;
}
