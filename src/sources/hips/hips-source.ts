import { readFile } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Target } from "../../catalog/types.js";
import { inputError, usageError } from "../../errors.js";
import type { Card } from "../../fits/header.js";
import { encodeImage, readImage } from "../../fits/image.js";
import { provenanceCards } from "../../fits/provenance.js";
import { validateFits } from "../../fits/validate.js";
import { ang2pixNest } from "../../healpix/index.js";
import { checkRaster } from "../../raster/raster.js";
import type { StampGrid } from "../../wcs/tan-header.js";
import type { Geometry, ModeTally, Outcome, ProducerSource, SharedGet } from "../source.js";
import { describeModes, ModeComparison, type TileCost } from "./mode-compare.js";
import {
  chooseTileOrder,
  type HipsProperties,
  parseHipsProperties,
  TILE_EXT,
  tilePath,
} from "./properties.js";
import { decodeTile, encodeRasterStamp, type StampFormat } from "./raster-stamp.js";
import { type Interpolation, planStamp, type SamplePlan, sampleStamp } from "./resample.js";

/** Serialisable configuration of a client-side HiPS job (stored in the ledger). */
export interface HipsConfig {
  readonly kind: "hips";
  /** One HiPS per band: an http(s) URL, or an absolute local directory. */
  readonly hips: ReadonlyArray<{ readonly label: string; readonly location: string }>;
  readonly geometry: Geometry;
  readonly interp: Interpolation;
  /**
   * Stamp format (`--format`): undefined = FITS for FITS-tile surveys, PNG for PNG/JPEG-tile surveys.
   * PNG needs an 8-bit (PNG/JPEG tile) survey.
   */
  readonly format?: StampFormat;
  /** Stamp grid convention (`--grid`): "hips2fits" (CRPIX = W/2, H/2) or "centred" (CRPIX = (W+1)/2). */
  readonly grid: StampGrid;
  /** `--moc`: a coverage map per band instead of each survey's own Moc.fits. */
  readonly moc?: readonly string[];
}

/** A decoded tile: one array per channel (1, or 3 for colour), FITS order. */
type TileData = ReadonlyArray<Float64Array | Float32Array>;

/** HEALPix order of the processing-order key: neighbours within ~13" share a key. */
const SORT_ORDER = 14;

/**
 * Parse `--hips URL|PATH[,...]`: each item a HiPS base URL (http, https, file) or a local directory,
 * optionally `label=...`; the band label defaults to the last path element. Local paths become
 * absolute so the stored job does not depend on the working directory.
 */
export function parseHipsLocations(text: string): Array<{ label: string; location: string }> {
  const out: Array<{ label: string; location: string }> = [];
  for (const raw of text.split(",")) {
    const item = raw.trim();
    if (item === "") continue;
    const m = /^([A-Za-z0-9_.+-]+)=(.+)$/.exec(item);
    let location = m ? (m[2] as string) : item;
    if (location.startsWith("file:")) location = fileURLToPath(location);
    if (!/^https?:\/\//.test(location)) location = isAbsolute(location) ? location : resolve(location);
    location = location.replace(/\/+$/, "");
    const label = m ? (m[1] as string) : (location.split("/").pop() ?? "");
    if (label === "")
      throw usageError("BAD_HIPS", `--hips: cannot name a band for ${JSON.stringify(item)}; use label=URL`);
    if (out.some((o) => o.label === label))
      throw usageError("BAD_HIPS", `--hips: band ${JSON.stringify(label)} given twice; use label=URL`);
    out.push({ label, location });
  }
  if (out.length === 0) throw usageError("BAD_HIPS", "--hips: no HiPS given");
  return out;
}

interface BandState {
  readonly location: string;
  readonly remote: boolean;
  readonly props: HipsProperties;
  readonly order: number;
  /** What this band's stamps are written as. */
  readonly format: StampFormat;
}

/**
 * Client-side HiPS cutouts: each stamp is resampled from the HiPS tiles it touches (nearest or bilinear,
 * onto the TAN grid hips2fits would produce). Remote tiles go through the shared fetcher (once per job,
 * cached, recorded in the ledger); local HiPS tiles are read from disk. Decoded tiles are kept in an LRU
 * bounded by `tileCacheMb`. An all-NaN stamp is "no coverage"; a missing tile is no coverage there.
 */
export class HipsSource implements ProducerSource {
  readonly kind = "hips";
  readonly bands: readonly string[];
  private readonly config: HipsConfig;
  private readonly state = new Map<string, BandState>();
  private readonly lru = new Map<string, TileData | null>();
  private lruBytes = 0;
  private lruLimit = 256 * 2 ** 20;
  private readonly pending = new Map<string, Promise<TileData | null>>();
  /** Tiles decoded (misses of the in-memory cache), for benchmarks. */
  tileLoads = 0;
  /**
   * Recent stamp plans: the bands of one target run one after another (task order) and usually share
   * a tile grid, so a target's plan is computed once for all of them.
   */
  private readonly plans = new Map<string, SamplePlan>();
  private readonly provenanceOf = new Map<string, readonly Card[]>();

  constructor(config: HipsConfig) {
    this.config = config;
    this.bands = config.hips.map((h) => h.label);
  }

  describe(): Readonly<Record<string, unknown>> {
    return this.config as unknown as Record<string, unknown>;
  }

  async prepare(
    shared: SharedGet,
    signal: AbortSignal,
    options: { memoryBytes?: number } = {},
  ): Promise<void> {
    if (options.memoryBytes !== undefined) this.lruLimit = options.memoryBytes;
    for (const h of this.config.hips) {
      const remote = /^https?:\/\//.test(h.location);
      let text: string;
      try {
        if (remote) {
          const buf = await shared(`${h.location}/properties`, signal, { fits: false }).catch(
            (err: unknown) => {
              throw inputError(
                "HIPS_PROPERTIES",
                `cannot read ${h.location}/properties: ${(err as Error).message}`,
              );
            },
          );
          if (buf === null)
            throw inputError("HIPS_PROPERTIES", `${h.location}/properties: not found (is this a HiPS?)`);
          text = buf.toString("utf8");
        } else {
          text = await readFile(join(h.location, "properties"), "utf8");
        }
      } catch (err) {
        if ((err as { exitCode?: number }).exitCode !== undefined) throw err;
        throw inputError(
          "HIPS_PROPERTIES",
          `cannot read ${join(h.location, "properties")}: ${(err as Error).message}`,
          err,
        );
      }
      const props = parseHipsProperties(text, h.location);
      if (props.tileFormat === "fits" && this.config.format === "png") {
        throw usageError(
          "BAD_FORMAT",
          `--format png: ${h.location} has FITS tiles (science values); PNG stamps need a PNG or JPEG tile survey`,
        );
      }
      this.state.set(h.label, {
        location: h.location,
        remote,
        props,
        order: chooseTileOrder(props, this.config.geometry.pixscaleArcsec),
        format: this.config.format ?? (props.tileFormat === "fits" ? "fits" : "png"),
      });
    }
  }

  /** Each band's tile grid and tile size (after prepare), for the mode comparison of `plan --dry-run`. */
  tileCosts(): TileCost[] {
    return this.bands.map((label) => {
      const b = this.band(label);
      return {
        order: b.order,
        tileWidth: b.props.tileWidth,
        frame: b.props.frame,
        bitpix: b.props.bitpix ?? -32,
      };
    });
  }

  modeComparison(ratePerSec: number): ModeTally {
    const m = new ModeComparison(this.tileCosts(), this.config.geometry, ratePerSec);
    return { add: (t) => m.add(t), lines: () => describeModes(m.figures(), ratePerSec) };
  }

  sortKey(target: Target): number {
    return ang2pixNest(SORT_ORDER, target.raDeg, target.decDeg);
  }

  /** The stamp file's extension for `band` (".fits" or ".png"). Needs prepare(). */
  extension(band: string): string {
    return `.${this.band(band).format}`;
  }

  /** Whether a file a killed run left is a whole stamp: a valid FITS file, or a decodable PNG. */
  adoptable(body: Buffer, ext: string): boolean {
    return ext === ".png" ? checkRaster(body, "png") === undefined : validateFits(body).ok;
  }

  private band(band: string): BandState {
    const b = this.state.get(band);
    if (b === undefined) throw new Error(`internal: HiPS band ${band} not prepared`);
    return b;
  }

  describeTask(target: Target, band: string): string {
    const b = this.band(band);
    const plan = this.plan(target, b);
    const ext = TILE_EXT[b.props.tileFormat];
    return plan.tiles.map((n) => `${b.location}/${tilePath(b.order, n, ext)}`).join(" ");
  }

  private grid(b: BandState): { order: number; tileWidth: number; frame: "equatorial" | "galactic" } {
    return { order: b.order, tileWidth: b.props.tileWidth, frame: b.props.frame };
  }

  private async tile(
    band: string,
    b: BandState,
    npix: number,
    shared: SharedGet,
    signal: AbortSignal,
  ): Promise<TileData | null> {
    const key = `${band}/${npix}`;
    if (this.lru.has(key)) {
      const v = this.lru.get(key) as TileData | null;
      this.lru.delete(key); // move to the most recent end
      this.lru.set(key, v);
      return v;
    }
    let p = this.pending.get(key);
    if (p === undefined) {
      p = this.loadTile(b, npix, shared, signal).finally(() => this.pending.delete(key));
      this.pending.set(key, p);
      const data = await p;
      this.remember(key, data);
      return data;
    }
    return p;
  }

  private async loadTile(
    b: BandState,
    npix: number,
    shared: SharedGet,
    signal: AbortSignal,
  ): Promise<TileData | null> {
    const format = b.props.tileFormat;
    const rel = tilePath(b.order, npix, TILE_EXT[format]);
    let buf: Buffer | null;
    if (b.remote) {
      buf =
        format === "fits"
          ? await shared(`${b.location}/${rel}`, signal)
          : await shared(`${b.location}/${rel}`, signal, {
              fits: false,
              accept: (body) => checkRaster(body, format),
            });
    } else {
      try {
        buf = await readFile(join(b.location, rel));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
        buf = null;
      }
    }
    this.tileLoads++;
    if (buf === null) return null;
    if (format !== "fits") {
      try {
        return decodeTile(buf, b.props.tileWidth, b.props.channels);
      } catch (err) {
        throw inputError("HIPS_TILE", `${b.location}/${rel}: ${(err as Error).message}`, err);
      }
    }
    const img = readImage(buf);
    const w = b.props.tileWidth;
    if (img.width !== w || img.height !== w) {
      throw inputError(
        "HIPS_TILE",
        `${b.location}/${rel} is ${img.width}x${img.height}, properties say ${w}x${w}`,
      );
    }
    return [img.data];
  }

  private remember(key: string, data: TileData | null): void {
    const limit = this.lruLimit;
    const bytes = (d: TileData | null): number => d?.reduce((a, c) => a + c.byteLength, 0) ?? 0;
    this.lru.set(key, data);
    this.lruBytes += bytes(data);
    for (const [k, v] of this.lru) {
      if (this.lruBytes <= limit) break;
      this.lru.delete(k);
      this.lruBytes -= bytes(v);
    }
  }

  private plan(target: Target, b: BandState): SamplePlan {
    const g = this.grid(b);
    const key = `${target.raDeg},${target.decDeg},${g.order},${g.tileWidth},${g.frame}`;
    let plan = this.plans.get(key);
    if (plan === undefined) {
      plan = planStamp(target.raDeg, target.decDeg, this.config.geometry, g, this.config.interp, {
        convention: this.config.grid ?? "hips2fits",
      });
      this.plans.set(key, plan);
      // Keep a few dozen: enough for every band of the targets in flight.
      if (this.plans.size > 64) this.plans.delete(this.plans.keys().next().value as string);
    }
    return plan;
  }

  async produce(target: Target, band: string, shared: SharedGet, signal: AbortSignal): Promise<Outcome> {
    const b = this.band(band);
    const plan = this.plan(target, b);
    const tiles = await Promise.all(plan.tiles.map((n) => this.tile(band, b, n, shared, signal)));
    const C = b.props.tileFormat === "fits" ? 1 : b.props.channels;
    // One resampling per channel, on the same plan.
    const channels = Array.from({ length: C }, (_, c) =>
      sampleStamp(
        plan,
        tiles.map((t) => t?.[c] ?? null),
      ),
    );
    if (!channels.some((ch) => ch.covered))
      return { kind: "no_coverage", message: "no HiPS tile covers this position" };
    const cards = [...plan.wcs, ...this.provenance(band, b)];
    const body =
      b.props.tileFormat === "fits"
        ? encodeImage({
            bitpix: -32,
            shape: [plan.widthPx, plan.heightPx],
            data: (channels[0] as { data: Float32Array }).data,
            cards,
          })
        : encodeRasterStamp(
            b.format,
            plan.widthPx,
            plan.heightPx,
            channels.map((ch) => ch.data),
            cards,
          );
    return { kind: "done", body };
  }

  /** A band's provenance cards: the same for each of its stamps, made once (their text is formatted once). */
  private provenance(band: string, b: BandState): readonly Card[] {
    let cards = this.provenanceOf.get(band);
    if (cards !== undefined) return cards;
    const cut = b.props.pixelCut;
    cards = provenanceCards({
      band,
      how: "client-side HiPS cutout",
      keys: [
        { key: "HIPSORD", value: b.order, comment: "HiPS tile order read" },
        { key: "INTERP", value: this.config.interp, comment: "resampling from HEALPix cells" },
        ...(b.props.tileFormat === "fits"
          ? []
          : [
              { key: "HIPSTILE", value: b.props.tileFormat, comment: "8-bit HiPS tiles read" },
              ...(cut === undefined
                ? []
                : [{ key: "HIPSCUT", value: `${cut[0]} ${cut[1]}`, comment: "survey hips_pixel_cut" }]),
            ]),
      ],
      history: [`cut from HiPS ${b.props.did ?? ""}`],
    });
    this.provenanceOf.set(band, cards);
    return cards;
  }
}
