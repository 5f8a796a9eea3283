import type { Target } from "../../catalog/types.js";
import { parseRetryAfter } from "../../fetch/retry-policy.js";
import type { Card } from "../../fits/header.js";
import { provenanceCards } from "../../fits/provenance.js";
import { validateFits } from "../../fits/validate.js";
import { ang2pixNest } from "../../healpix/index.js";
import { isDatalink } from "../../output/product-formats.js";
import { DatalinkError, parseDatalink, sodaRequest, thisLink } from "../../votable/datalink.js";
import { stampFromImage } from "../../wcs/cutout.js";
import { errorText } from "../interpret.js";
import type { DirectGet, Geometry, HttpResponse, Outcome, ProducerSource, SharedGet } from "../source.js";
import { type DecodedPlane, decodePlanes, planeContaining } from "./local-cut.js";
import {
  type Candidate,
  type Pick,
  parseSiaAnswer,
  pickCandidate,
  queryError,
  type SiaBand,
  SiaError,
  sia1Url,
  sia2Url,
} from "./query.js";

/** Serialisable configuration of a SIA job (stored in the ledger). */
export interface SiaConfig {
  readonly kind: "sia";
  readonly version: 1 | 2;
  readonly url: string;
  /** Empty: one band, "image", served by every image. */
  readonly bands: readonly SiaBand[];
  /** Stamp size in the survey's own pixels; the pixel scale sizes the query and the SODA circle. */
  readonly geometry: Geometry;
  readonly pick: Pick;
  /** Keep stamps that run off their image (NaN-padded); false refuses them (no coverage). */
  readonly partial: boolean;
  readonly collection?: string;
  readonly maxrec?: number;
  /** `--moc`: the coverage map of each band (URL or absolute path), checked before any request. */
  readonly moc?: readonly string[];
}

/** HEALPix order of the processing-order key: neighbours (same survey image) run together. */
const SORT_ORDER = 12;
/** Parsed answers kept (the bands of one target run one after another). */
const ANSWERS_KEPT = 64;

/**
 * Cutouts from Simple Image Access services. Per target, one query (SIA 1 or 2), kept in the ledger and
 * OUT/.vocut-cache so a resumed job does not ask again; per band, the image that contains the target
 * with the most margin. Then either a SODA cutout (SIA 2 with DataLink offering `#cutout`), or the whole
 * image, fetched at most once per job and cut locally (pixel-aligned, like astropy's Cutout2D). Either
 * way the stamp is exactly the requested size on the survey's own pixel grid.
 */
export class SiaSource implements ProducerSource {
  readonly kind = "sia";
  readonly bands: readonly string[];
  private readonly config: SiaConfig;
  private readonly answers = new Map<string, Promise<Candidate[]>>();
  private readonly planes = new Map<string, Promise<DecodedPlane[]>>();
  private planeBytes = 0;
  private memoryBytes = 512 * 2 ** 20;
  private readonly planeSizes = new Map<string, number>();

  constructor(config: SiaConfig) {
    this.config = config;
    this.bands = config.bands.length === 0 ? ["image"] : config.bands.map((b) => b.label);
  }

  describe(): Readonly<Record<string, unknown>> {
    return this.config as unknown as Record<string, unknown>;
  }

  async prepare(
    _shared: SharedGet,
    _signal: AbortSignal,
    options: { memoryBytes?: number } = {},
  ): Promise<void> {
    if (options.memoryBytes !== undefined) this.memoryBytes = options.memoryBytes;
  }

  sortKey(target: Target): number {
    return ang2pixNest(SORT_ORDER, target.raDeg, target.decDeg);
  }

  /** The stamp's half-diagonal, degrees: the query radius and the SODA circle cover the whole stamp. */
  private radiusDeg(): number {
    const g = this.config.geometry;
    return (Math.hypot(g.widthPx, g.heightPx) / 2) * (g.pixscaleArcsec / 3600) * 1.05;
  }

  queryUrl(target: Target): string {
    const c = this.config;
    const g = c.geometry;
    if (c.version === 1) {
      return sia1Url(
        c.url,
        target.raDeg,
        target.decDeg,
        (Math.max(g.widthPx, g.heightPx) * g.pixscaleArcsec) / 3600,
      );
    }
    return sia2Url(c.url, target.raDeg, target.decDeg, this.radiusDeg(), c.bands, {
      ...(c.collection === undefined ? {} : { collection: c.collection }),
      ...(c.maxrec === undefined ? {} : { maxrec: c.maxrec }),
    });
  }

  describeTask(target: Target, band: string): string {
    return `${this.queryUrl(target)} -> ${band}`;
  }

  async produce(
    target: Target,
    band: string,
    shared: SharedGet,
    signal: AbortSignal,
    direct: DirectGet,
  ): Promise<Outcome> {
    const q = this.queryUrl(target);
    let candidates: Candidate[];
    try {
      candidates = await this.answer(q, target, shared, signal);
    } catch (e) {
      if (e instanceof SiaError) return { kind: "permanent", code: e.code, message: e.message };
      throw e;
    }
    const chosen = pickCandidate(candidates, band, this.config.pick);
    if (chosen === undefined) {
      const inBand = candidates.filter((c) => c.bands.includes(band)).length;
      return {
        kind: "no_coverage",
        message: `no ${band} image contains the target (${candidates.length} image(s) offered, ${inBand} in ${band})`,
      };
    }
    const provenance = (source: string): Card[] =>
      provenanceCards({
        band,
        how: "SIA cutout, pixel-aligned",
        history: [`image: ${chosen.did || chosen.title || chosen.url}`, `from: ${source}`],
      });
    if (isDatalink(chosen.format)) {
      // Kept once per job like the query; a cut-short or QUERY_STATUS=ERROR document is not kept.
      const dl = await shared(chosen.url, signal, { fits: false, accept: queryError });
      if (dl === null) return { kind: "permanent", code: "HTTP_404", message: `DataLink ${chosen.url}: 404` };
      let doc: Awaited<ReturnType<typeof parseDatalink>>;
      try {
        doc = await parseDatalink(dl);
      } catch (e) {
        if (e instanceof DatalinkError) return { kind: "permanent", code: e.code, message: e.message };
        throw e;
      }
      const r = this.radiusDeg();
      const soda = sodaRequest(doc, {
        CIRCLE: `${target.raDeg} ${target.decDeg} ${Number(r.toPrecision(6))}`,
      });
      if (soda !== undefined) {
        const res = await direct(soda.url, signal);
        return this.fromSoda(res, target, provenance(soda.url));
      }
      const own = thisLink(doc);
      if ("error" in own) return { kind: "permanent", code: own.code, message: own.error };
      return this.fromImage(new URL(own.url, chosen.url).href, target, shared, signal, provenance);
    }
    return this.fromImage(chosen.url, target, shared, signal, provenance);
  }

  /** The parsed answer of a query (fetched once per job through the shared fetcher). */
  private answer(q: string, target: Target, shared: SharedGet, signal: AbortSignal): Promise<Candidate[]> {
    let p = this.answers.get(q);
    if (p === undefined) {
      p = (async () => {
        const body = await shared(q, signal, { fits: false, accept: queryError });
        if (body === null) throw new SiaError("SIA_RESPONSE", `the SIA service answered 404 to ${q}`);
        return parseSiaAnswer(this.config.version, body, target, this.config.bands);
      })();
      p.catch(() => this.answers.delete(q));
      this.answers.set(q, p);
      if (this.answers.size > ANSWERS_KEPT) this.answers.delete(this.answers.keys().next().value as string);
    }
    return p;
  }

  /** A whole image, fetched once per job, decoded once while neighbours need it, cut locally. */
  private async fromImage(
    url: string,
    target: Target,
    shared: SharedGet,
    signal: AbortSignal,
    provenance: (source: string) => Card[],
  ): Promise<Outcome> {
    let p = this.planes.get(url);
    if (p === undefined) {
      p = (async () => {
        const buf = await shared(url, signal, { fits: true });
        if (buf === null) return [];
        this.remember(url, buf.length);
        return decodePlanes(buf);
      })();
      p.catch(() => this.planes.delete(url));
      this.planes.set(url, p);
    } else {
      // Most recently used last.
      this.planes.delete(url);
      this.planes.set(url, p);
    }
    const planes = await p;
    if (planes.length === 0) {
      return {
        kind: "permanent",
        code: "NO_IMAGE",
        message: `${url}: 404 or no image HDU with a celestial WCS`,
      };
    }
    return this.cut(planes, target, provenance(url), url);
  }

  private remember(url: string, bytes: number): void {
    this.planeSizes.set(url, bytes);
    this.planeBytes += bytes;
    for (const k of this.planes.keys()) {
      if (this.planeBytes <= this.memoryBytes || k === url) break;
      this.planes.delete(k);
      this.planeBytes -= this.planeSizes.get(k) ?? 0;
      this.planeSizes.delete(k);
    }
  }

  private cut(planes: readonly DecodedPlane[], target: Target, cards: Card[], what: string): Outcome {
    const g = this.config.geometry;
    const plane = planeContaining(planes, target.raDeg, target.decDeg);
    if (plane === undefined) return { kind: "no_coverage", message: `${what} does not contain the target` };
    const r = stampFromImage(plane, plane.wcs, target.raDeg, target.decDeg, g.widthPx, g.heightPx, {
      partial: this.config.partial,
      cards: () => [
        ...cards,
        { key: "VOHDU", value: plane.hdu, comment: "HDU of the image the stamp was cut from" },
      ],
    });
    if (r.kind === "no_overlap")
      return { kind: "no_coverage", message: `${what} does not contain the target` };
    if (r.kind === "partial_refused") {
      return { kind: "no_coverage", message: "the stamp runs off the image (--no-partial)" };
    }
    return { kind: "done", body: r.body };
  }

  /** A SODA answer (SODA 1.0 section 5): 204 no overlap, 200 FITS, text errors UsageError / ServiceUnavailable. */
  private fromSoda(res: HttpResponse, target: Target, cards: Card[]): Outcome {
    if (res.status === 204) return { kind: "no_coverage", message: "SODA: no overlap (204)" };
    const text = errorText(res.body);
    if (res.status === 200) {
      const v = validateFits(res.body);
      if (!v.ok) {
        if (/^\s*UsageError/i.test(res.body.subarray(0, 200).toString("utf8"))) {
          return { kind: "permanent", code: "SODA_USAGE", message: `SODA: ${text}` };
        }
        return { kind: "retryable", code: "NOT_FITS", message: `SODA 200 but ${v.message}`, status: 200 };
      }
      let planes: DecodedPlane[];
      try {
        planes = decodePlanes(res.body);
      } catch (e) {
        return { kind: "retryable", code: "NOT_FITS", message: `SODA: ${(e as Error).message}` };
      }
      if (planes.length === 0)
        return { kind: "permanent", code: "NO_WCS", message: "SODA cutout without a celestial WCS" };
      return this.cut(planes, target, cards, "the SODA cutout");
    }
    if (/UsageError|MultiValuedParamNotSupported|NotFound/i.test(text) && res.status < 500) {
      return {
        kind: "permanent",
        code: "SODA_USAGE",
        message: `SODA ${res.status}: ${text}`,
        status: res.status,
      };
    }
    const retryable = res.status === 429 || res.status >= 500 || /ServiceUnavailable/i.test(text);
    if (retryable) {
      const retryAfterMs = parseRetryAfter(res.headers["retry-after"], res.receivedAtMs);
      return {
        kind: "retryable",
        code: `HTTP_${res.status}`,
        message: `SODA ${res.status}: ${text}`,
        status: res.status,
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      };
    }
    return {
      kind: "permanent",
      code: `HTTP_${res.status}`,
      message: `SODA ${res.status}: ${text}`,
      status: res.status,
    };
  }
}
