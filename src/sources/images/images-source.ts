import { promises as fs } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import type { Target } from "../../catalog/types.js";
import { inputError, usageError } from "../../errors.js";
import { FitsError } from "../../fits/errors.js";
import { type Card, type FitsHeader, parseHeader } from "../../fits/header.js";
import { decodePixels } from "../../fits/image.js";
import { provenanceCards } from "../../fits/provenance.js";
import { decompressImage, imageHeaderOf, isTileCompressed } from "../../fits/tile-compressed.js";
import { ang2pixNest } from "../../healpix/index.js";
import type { ImageIndexStore, IndexedImage } from "../../ledger/image-index.js";
import { stampFromImage } from "../../wcs/cutout.js";
import { edgeMarginPx, stampInside, stampOrigin } from "../../wcs/pixel-grid.js";
import { type CelestialWcs, parseWcs } from "../../wcs/wcs.js";
import type { Outcome, PrepareOptions, ProducerSource } from "../source.js";
import { type CoaddStat, coaddOnto, type SampledImage } from "./coadd.js";
import { updateImageIndex } from "./scan-images.js";

/** Serialisable configuration of a local-images job (`--images DIR`, stored in the ledger). */
export interface ImagesConfig {
  readonly kind: "images";
  /** The survey folder, absolute; every FITS file under it is indexed. */
  readonly dir: string;
  /** Band labels in job order; ["image"] when every image is one band (bandKey null). */
  readonly bands: readonly string[];
  /** Header keyword whose value (case-insensitive) names an image's band; null: no band split. */
  readonly bandKey: string | null;
  /** Stamp size in the images' own pixels (no resampling: there is no pixel scale). */
  readonly geometry: { readonly widthPx: number; readonly heightPx: number };
  /** Which containing image a stamp is cut from: the largest margin to its edge, or the first by path. */
  readonly pick: ImagePick;
  /** Combine every containing image onto the picked image's stamp grid; null: the picked image alone. */
  readonly coadd: CoaddStat | null;
  /** Allow stamps that run off the image (NaN there); false: only images holding the whole stamp count. */
  readonly partial: boolean;
}

/** `--pick`: how one image is chosen among those containing the target. */
export type ImagePick = "margin" | "first";

/** The band of every image when `--bands` is not given. */
export const ALL_IMAGES_BAND = "image";

/** HEALPix order of the processing-order key: neighbours share decoded images. */
const SORT_ORDER = 14;
/** Parsed WCS kept in memory (headers are re-read from the index when evicted). */
const WCS_CACHE = 1024;

/** Validate `--images` flags into an ImagesConfig. Throws a usage error naming the flag. */
export function imagesConfigFrom(o: {
  images: string;
  bands: string;
  bandKey?: string;
  pick?: string;
  coadd?: string;
  partial?: boolean;
  widthPx: number;
  heightPx: number;
}): ImagesConfig {
  const bands = o.bands
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const lower = bands.map((b) => b.toLowerCase());
  if (new Set(lower).size !== lower.length)
    throw usageError("NO_BANDS", "--bands lists a band twice (bands match case-insensitively)");
  if (o.bandKey !== undefined && bands.length === 0)
    throw usageError("BAD_OPTION", "--band-key needs --bands (the values to match)");
  const bandKey = (o.bandKey ?? "FILTER").trim().toUpperCase();
  if (!/^[A-Z0-9_-]{1,8}$/.test(bandKey))
    throw usageError(
      "BAD_OPTION",
      `--band-key ${JSON.stringify(o.bandKey)}: a FITS keyword (1-8 of A-Z 0-9 _ -)`,
    );
  const pick = o.pick ?? "margin";
  if (pick !== "margin" && pick !== "first")
    throw usageError("BAD_OPTION", `--pick ${pick}: margin or first`);
  if (o.coadd !== undefined && o.coadd !== "mean" && o.coadd !== "median")
    throw usageError("BAD_OPTION", `--coadd ${o.coadd}: mean or median`);
  const dir = isAbsolute(o.images) ? o.images : resolve(o.images);
  return {
    kind: "images",
    dir: dir.length > 1 ? dir.replace(/\/+$/, "") : dir,
    bands: bands.length === 0 ? [ALL_IMAGES_BAND] : bands,
    bandKey: bands.length === 0 ? null : bandKey,
    geometry: { widthPx: o.widthPx, heightPx: o.heightPx },
    pick,
    coadd: o.coadd === undefined ? null : o.coadd,
    partial: o.partial !== false,
  };
}

/** An indexed image's WCS and header; `compressed` is the BINTABLE header of a tile-compressed HDU. */
interface ImageHeaders {
  readonly wcs: CelestialWcs;
  readonly header: FitsHeader;
  readonly compressed?: FitsHeader;
}

/** An image containing the target, with where the target falls on it. */
interface Hit {
  readonly image: IndexedImage;
  readonly wcs: CelestialWcs;
  readonly header: FitsHeader;
  /** Distance from the target to the nearest image edge, pixels. */
  readonly margin: number;
}

/**
 * Stamps cut from a local survey folder (`--images DIR`): every FITS image (and image extension) under DIR
 * is indexed by its sky footprint in the job's ledger (an R*Tree); for each target and band the images
 * whose WCS puts the target inside them are found, one is picked (largest margin, or first by path) and cut
 * like astropy's Cutout2D (its own pixels, CRPIX shifted, NaN off the edge), or all of them are co-added
 * onto the picked image's stamp grid (bilinear, NaN-aware mean or median). The inputs are named in the
 * stamp's header (VOIMGn = 'path[hdu]', VOINPUTS). No image containing the target is "no_coverage".
 */
export class ImagesSource implements ProducerSource {
  readonly kind = "images";
  readonly bands: readonly string[];
  private readonly config: ImagesConfig;
  private index: ImageIndexStore | undefined;
  private readonly wcsCache = new Map<number, ImageHeaders>();
  private readonly pixels = new Map<number, Float32Array>();
  private readonly loading = new Map<number, Promise<Float32Array>>();
  private pixelBytes = 0;
  private pixelLimit = 256 * 2 ** 20;
  /** Image HDUs decoded from disk (misses of the in-memory cache), for benchmarks. */
  imageLoads = 0;

  constructor(config: ImagesConfig) {
    this.config = config;
    this.bands = config.bands;
  }

  describe(): Readonly<Record<string, unknown>> {
    return this.config as unknown as Record<string, unknown>;
  }

  async prepare(_shared: unknown, signal: AbortSignal, options: PrepareOptions = {}): Promise<void> {
    if (options.memoryBytes !== undefined) this.pixelLimit = options.memoryBytes;
    if (options.imageIndex === undefined)
      throw new Error("internal: --images needs the ledger's image index");
    this.index = options.imageIndex;
    let st: import("node:fs").Stats;
    try {
      st = await fs.stat(this.config.dir);
    } catch (err) {
      throw inputError("IMAGES_DIR", `--images ${this.config.dir}: ${(err as Error).message}`, err);
    }
    if (!st.isDirectory()) throw inputError("IMAGES_DIR", `--images ${this.config.dir} is not a folder`);
    const u = await updateImageIndex(this.index, this.config.dir, this.config.bandKey, signal);
    this.wcsCache.clear();
    this.pixels.clear();
    this.pixelBytes = 0;
    options.info?.(
      `image index: ${u.files} FITS file(s) in ${this.config.dir}, ${u.read} read (new or changed), ` +
        `${u.removed} removed, ${u.images} image HDU(s) (${(u.ms / 1000).toFixed(1)} s)`,
    );
    for (const p of u.problems.slice(0, 5)) options.info?.(`  skipped ${p.path}: ${p.problem}`);
    if (u.problems.length > 5) options.info?.(`  ... and ${u.problems.length - 5} more file(s) skipped`);
    if (this.config.bandKey !== null) {
      const have = new Set(this.index.bands().map((b) => b.band));
      const missing = this.config.bands.filter((b) => !have.has(b.toLowerCase()));
      if (missing.length > 0) {
        const seen = [...have].map((b) => (b === null ? "(none)" : b)).join(", ");
        options.info?.(
          `warning: no image has ${this.config.bandKey} = ${missing.join(" or ")} (case-insensitive); values seen: ${seen || "none"}`,
        );
      }
    }
  }

  sortKey(target: Target): number {
    return ang2pixNest(SORT_ORDER, target.raDeg, target.decDeg);
  }

  private store(): ImageIndexStore {
    if (this.index === undefined) throw new Error("internal: images source not prepared");
    return this.index;
  }

  private wcsOf(image: IndexedImage): ImageHeaders {
    let w = this.wcsCache.get(image.id);
    if (w === undefined) {
      const stored = headerFromText(this.store().header(image.id));
      // A tile-compressed HDU is stored with its BINTABLE header (ZIMAGE = T): WCS and stamps use the
      // uncompressed-equivalent header, the loader the table's.
      const compressed = isTileCompressed(stored) ? stored : undefined;
      const header = compressed === undefined ? stored : imageHeaderOf(stored, image.hdu);
      w =
        compressed === undefined
          ? { wcs: parseWcs(header), header }
          : { wcs: parseWcs(header), header, compressed };
      if (this.wcsCache.size >= WCS_CACHE) this.wcsCache.delete(this.wcsCache.keys().next().value as number);
      this.wcsCache.set(image.id, w);
    }
    return w;
  }

  /** Images of `band` whose pixel grid holds the target (pixel edges included), by path then HDU. */
  private hits(target: Target, band: string): Hit[] {
    const ra = ((target.raDeg % 360) + 360) % 360;
    const want = this.config.bandKey === null ? undefined : band.toLowerCase();
    const out: Hit[] = [];
    for (const image of this.store().candidates(ra, target.decDeg)) {
      if (want !== undefined && image.band !== want) continue;
      const { wcs, header } = this.wcsOf(image);
      const p = wcs.worldToPixel(ra, target.decDeg);
      const margin = edgeMarginPx(p.x, p.y, image.width, image.height);
      if (!(margin >= 0)) continue;
      const { widthPx, heightPx } = this.config.geometry;
      const origin = stampOrigin(p.x, p.y, widthPx, heightPx);
      if (!this.config.partial && !stampInside(origin, widthPx, heightPx, image.width, image.height))
        continue;
      out.push({ image, wcs, header, margin });
    }
    return out;
  }

  private pick(hits: readonly Hit[]): Hit {
    let best = hits[0] as Hit;
    if (this.config.pick === "margin") for (const h of hits) if (h.margin > best.margin) best = h;
    return best;
  }

  describeTask(target: Target, band: string): string {
    const hits = this.hits(target, band);
    if (hits.length === 0) return "(no image)";
    const chosen = this.pick(hits);
    const used = this.config.coadd === null ? [chosen] : [chosen, ...hits.filter((h) => h !== chosen)];
    return used.map((h) => join(this.config.dir, imageName(h.image))).join(" ");
  }

  private async pixelsOf(image: IndexedImage, header: FitsHeader): Promise<Float32Array> {
    const cached = this.pixels.get(image.id);
    if (cached !== undefined) {
      this.pixels.delete(image.id); // most recent last
      this.pixels.set(image.id, cached);
      return cached;
    }
    let p = this.loading.get(image.id);
    if (p === undefined) {
      p = this.load(image, header).finally(() => this.loading.delete(image.id));
      this.loading.set(image.id, p);
      const data = await p;
      this.remember(image.id, data);
      return data;
    }
    return p;
  }

  private async load(image: IndexedImage, header: FitsHeader): Promise<Float32Array> {
    const path = join(this.config.dir, image.path);
    const buf = Buffer.alloc(image.dataBytes);
    const fh = await fs.open(path, "r");
    try {
      const { bytesRead } = await fh.read(buf, 0, image.dataBytes, image.dataOffset);
      if (bytesRead < image.dataBytes)
        throw inputError(
          "IMAGE_CHANGED",
          `${path} is shorter than when it was indexed: run again to re-index`,
        );
    } finally {
      await fh.close();
    }
    const out = new Float32Array(image.width * image.height);
    const compressed = this.wcsOf(image).compressed;
    if (compressed !== undefined) {
      try {
        decompressImage(compressed, buf, image.hdu, out);
      } catch (err) {
        // A corrupt tile fails the tasks cut from this image, not the run, and permanently: a local file
        // does not mend itself (classifyError honours `retryable`; TRUNCATED would otherwise be retried).
        if (!(err instanceof FitsError)) throw err;
        throw Object.assign(new FitsError(err.code, `${path}: ${err.message}`, { cause: err }), {
          retryable: false,
        });
      }
    } else decodePixels(header, new DataView(buf.buffer, buf.byteOffset, buf.length), out);
    this.imageLoads++;
    return out;
  }

  private remember(id: number, data: Float32Array): void {
    this.pixels.set(id, data);
    this.pixelBytes += data.byteLength;
    for (const [k, v] of this.pixels) {
      // Always keep the image just loaded, even when it alone exceeds the bound.
      if (this.pixelBytes <= this.pixelLimit || k === id) break;
      this.pixels.delete(k);
      this.pixelBytes -= v.byteLength;
    }
  }

  async produce(target: Target, band: string): Promise<Outcome> {
    const { widthPx, heightPx } = this.config.geometry;
    const hits = this.hits(target, band);
    if (hits.length === 0) {
      const what = this.config.bandKey === null ? "no image" : `no ${band} image`;
      return {
        kind: "no_coverage",
        message: this.config.partial
          ? `${what} in ${this.config.dir} contains this position`
          : `${what} in ${this.config.dir} holds the whole ${widthPx}x${heightPx} stamp (--no-partial)`,
      };
    }
    const chosen = this.pick(hits);
    const img = {
      header: chosen.header,
      width: chosen.image.width,
      height: chosen.image.height,
      data: await this.pixelsOf(chosen.image, chosen.header),
    };
    const used: Hit[] = [chosen];
    const others: SampledImage[] = [];
    const stat = this.config.coadd;
    if (stat !== null) {
      for (const h of hits) {
        if (h === chosen) continue;
        used.push(h);
        others.push({
          width: h.image.width,
          height: h.image.height,
          data: await this.pixelsOf(h.image, h.header),
          wcs: h.wcs,
        });
      }
    }
    const ra = ((target.raDeg % 360) + 360) % 360;
    const stamp = stampFromImage(img, chosen.wcs, ra, target.decDeg, widthPx, heightPx, {
      partial: this.config.partial,
      cards: (cut) => this.provenance(band, used, cut.partial),
      ...(stat === null || others.length === 0
        ? {}
        : { pixels: (cut) => coaddOnto(cut, cut.x0, cut.y0, chosen.wcs, others, stat) }),
    });
    if (stamp.kind !== "ok") {
      // hits() already checked containment (and the whole stamp without --partial).
      throw new Error(
        `internal: ${imageName(chosen.image)} contains the target but cutout2d says ${stamp.kind}`,
      );
    }
    return { kind: "done", body: stamp.body };
  }

  private provenance(band: string, used: readonly Hit[], partial: boolean): Card[] {
    const keys: Card[] = [
      { key: "VOINPUTS", value: used.length, comment: "images that went into this stamp" },
    ];
    used.forEach((h, i) => {
      const name = imageName(h.image);
      const key = `VOIMG${i + 1}`;
      if (name.length <= 68) keys.push({ key, value: name, comment: i === 0 ? "stamp grid" : "" });
      else {
        // Too long for one card: the tail in the card, the whole name in HISTORY lines.
        keys.push({ key, value: `...${name.slice(-65)}` });
        for (let s = 0; s < name.length; s += 60)
          keys.push({ key: "HISTORY", value: `${key} ${name.slice(s, s + 60)}` });
      }
    });
    keys.push(
      this.config.coadd === null
        ? { key: "VOPICK", value: this.config.pick, comment: "how the image was chosen" }
        : { key: "VOCOADD", value: this.config.coadd, comment: "NaN-aware, bilinear onto VOIMG1" },
      { key: "VOPARTL", value: partial, comment: "stamp runs off VOIMG1 (NaN there)" },
    );
    return provenanceCards({ band, how: "cut from local images", keys });
  }
}

/** 'relative/path.fits[hdu]', as VOIMGn records an input (HDU index 0-based, as astropy's hdul[i]). */
export function imageName(image: { readonly path: string; readonly hdu: number }): string {
  return `${image.path}[${image.hdu}]`;
}

/** Rebuild a header from the cards stored in the index. */
function headerFromText(text: string): FitsHeader {
  const withEnd = `${text}${"END".padEnd(80, " ")}`;
  const size = Math.ceil(withEnd.length / 2880) * 2880;
  return parseHeader(Buffer.from(withEnd.padEnd(size, " "), "latin1"), 0).header;
}
