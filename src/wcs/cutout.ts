import { type Card, type FitsHeader, formatCard } from "../fits/header.js";
import { encodeImage } from "../fits/image.js";
import { stampOrigin } from "./pixel-grid.js";
import type { CelestialWcs } from "./wcs.js";

export { footprint, type SkyBox } from "./footprint.js";
export { hduContaining } from "./hdu-containing.js";

/** One image plane as readImage gives it: physical values, NaN for BLANK, x fastest. */
export interface ImagePlane {
  readonly header: FitsHeader;
  readonly width: number;
  readonly height: number;
  readonly data: Float32Array | Float64Array;
}

/** What cutout2d made of a request. */
export type CutoutResult =
  | {
      readonly kind: "ok";
      readonly width: number;
      readonly height: number;
      readonly data: Float32Array;
      /** The stamp's header cards: the original WCS cards (incl. PV/SIP) with CRPIX shifted, so the stamp's world coordinates are the original's. */
      readonly cards: Card[];
      /** 0-based pixel of the big image at the stamp's (0,0); partial = the stamp runs off the image (padded with NaN). */
      readonly x0: number;
      readonly y0: number;
      readonly partial: boolean;
    }
  | { readonly kind: "no_overlap" }
  | { readonly kind: "partial_refused" };

/** A cutout that holds pixels: what stampFromImage's callbacks receive. */
export type Cutout = Extract<CutoutResult, { kind: "ok" }>;

/**
 * Keys that describe the primary celestial WCS of axes 1 and 2 (Paper I-II, SIP), copied into a stamp.
 * Alternate descriptions (keys ending in A-Z) and other axes are left out: the stamp is a 2-D image.
 */
const WCS_KEY =
  /^(?:(?:CTYPE|CRVAL|CRPIX|CDELT|CUNIT|CROTA)[12]|(?:CD|PC)[12]_[12]|PV[12]_\d{1,2}|(?:A|B|AP|BP)_(?:ORDER|\d{1,2}_\d{1,2})|[AB]_DMAX|LONPOLE|LATPOLE|RADESYS|RADECSYS|EQUINOX|EPOCH|WCSNAME|MJD-OBS|DATE-OBS)$/;

/**
 * The original header's WCS cards for a stamp whose pixel (0, 0) is the original's (x0, y0): CRPIXi minus the
 * offset (exactly astropy's `crpix -= origin`, so the same double), WCSAXES = 2, every other card unchanged.
 */
export function shiftedWcsCards(header: FitsHeader, x0: number, y0: number): Card[] {
  const out: Card[] = [{ key: "WCSAXES", value: 2, comment: "number of WCS axes" }];
  const seen = new Set<string>();
  for (const c of header.cards) {
    if (!WCS_KEY.test(c.key) || seen.has(c.key)) continue;
    seen.add(c.key);
    if ((c.key === "CRPIX1" || c.key === "CRPIX2") && typeof c.value === "number") {
      const shift = c.key === "CRPIX1" ? x0 : y0;
      out.push({ key: c.key, value: c.value - shift, comment: "reference pixel, shifted for the cutout" });
    } else {
      out.push(c);
    }
  }
  return out;
}

/**
 * Keys of an image header that no longer hold for a float32 stamp cut out of it: the data's structure and
 * scaling (the stamp holds physical values, NaN for blanks), checksums and data ranges of the whole image,
 * the source HDU's name (the stamp's provenance cards name file and HDU), tile compression and binary-table
 * keys, alternate or 3rd-axis WCS (the stamp is 2-D, its WCS is written by shiftedWcsCards).
 */
const STALE_KEY =
  /^(?:SIMPLE|XTENSION|BITPIX|NAXIS\d*|PCOUNT|GCOUNT|EXTEND|GROUPS|END|BSCALE|BZERO|BLANK|CHECKSUM|DATASUM|DATAMIN|DATAMAX|INHERIT|EXTNAME|EXTVER|EXTLEVEL|ZIMAGE|ZSIMPLE|ZTENSION|ZEXTEND|ZBLOCKED|ZPCOUNT|ZGCOUNT|ZHECKSUM|ZDATASUM|ZBITPIX|ZNAXIS\d*|ZTILE\d+|ZCMPTYPE|ZNAME\d+|ZVAL\d+|ZMASKCMP|ZQUANTIZ|ZDITHER0|ZSCALE|ZZERO|ZBLANK|TFIELDS|THEAP|T(?:TYPE|FORM|UNIT|SCAL|ZERO|NULL|DISP|DIM)\d+|WCSAXES|(?:CTYPE|CRVAL|CRPIX|CDELT|CUNIT|CROTA|CRDER|CSYER)\d+[A-Z]?|(?:CD|PC|PV|PS)\d+_\d+[A-Z]?|(?:A|B|AP|BP)_(?:ORDER|\d{1,2}_\d{1,2})|[AB]_DMAX|(?:LONPOLE|LATPOLE|RADESYS|RADECSYS|EQUINOX|EPOCH|WCSNAME|MJD-OBS|DATE-OBS)[A-Z]?)$/;

/**
 * The cards of the image's header worth keeping in a stamp cut from it: everything but STALE_KEY and the
 * commentary cards (COMMENT, HISTORY and blank keys, often hundreds of lines for a 28x28 stamp), in their
 * order, first occurrence of each key. A card that cannot be written back in fixed format (a long-string
 * CONTINUE value, a HIERARCH key) is left out rather than altered. Astropy's Cutout2D keeps no header at
 * all; survey users need the photometric zero point, exposure time, filter and seeing of the image a stamp
 * came from, so they stay.
 */
export function headerCarryOver(header: FitsHeader, skip: ReadonlySet<string> = new Set()): Card[] {
  const out: Card[] = [];
  const seen = new Set<string>();
  for (const c of header.cards) {
    if (c.key === "" || c.key === "COMMENT" || c.key === "HISTORY" || c.key === "CONTINUE") continue;
    if (seen.has(c.key) || skip.has(c.key) || STALE_KEY.test(c.key)) continue;
    seen.add(c.key);
    try {
      formatCard(c);
    } catch {
      continue;
    }
    out.push(c);
  }
  return out;
}

/**
 * A pixel-aligned sub-image like astropy.nddata.Cutout2D(data, SkyCoord(ra, dec), (height, width), wcs,
 * mode="partial", fill_value=nan) — no resampling; with partial=false, mode="strict" (a stamp running off the
 * image is "partial_refused"). The stamp spans ceil(x - width/2) .. ceil(x + width/2) - 1 around the
 * position's pixel (x, y), as astropy's overlap_slices. One deliberate difference: astropy 5.2.1 returns an
 * all-NaN stamp when the stamp ends exactly at the image's first row or column (its check is `max < 0`, the
 * upper side uses `min >= size`); here any stamp without a single image pixel is "no_overlap". A position
 * that cannot be projected (NaN pixel) is "no_overlap" too. Sizes must be positive integers (TypeError).
 */
export function cutout2d(
  img: ImagePlane,
  wcs: CelestialWcs,
  raDeg: number,
  decDeg: number,
  widthPx: number,
  heightPx: number,
  opts: { partial: boolean },
): CutoutResult {
  if (!Number.isInteger(widthPx) || widthPx < 1) {
    throw new TypeError(`widthPx must be a positive integer, got ${widthPx}`);
  }
  if (!Number.isInteger(heightPx) || heightPx < 1) {
    throw new TypeError(`heightPx must be a positive integer, got ${heightPx}`);
  }
  if (img.data.length !== img.width * img.height) {
    throw new TypeError(
      `img.data has ${img.data.length} values, not width * height = ${img.width * img.height}`,
    );
  }
  const { x, y } = wcs.worldToPixel(raDeg, decDeg);
  if (!Number.isFinite(x) || !Number.isFinite(y)) return { kind: "no_overlap" };
  // The same double arithmetic as astropy's overlap_slices, so the same pixels at x.5 (odd) / integer (even).
  const { x0, y0 } = stampOrigin(x, y, widthPx, heightPx);
  const x1 = Math.ceil(x + widthPx / 2);
  const y1 = Math.ceil(y + heightPx / 2);
  if (x1 <= 0 || y1 <= 0 || x0 >= img.width || y0 >= img.height) return { kind: "no_overlap" };
  const partial = x0 < 0 || y0 < 0 || x1 > img.width || y1 > img.height;
  if (partial && !opts.partial) return { kind: "partial_refused" };
  const data = new Float32Array(widthPx * heightPx).fill(Number.NaN);
  const xa = Math.max(0, x0);
  const xb = Math.min(img.width, x1);
  for (let yy = Math.max(0, y0); yy < Math.min(img.height, y1); yy++) {
    const src = yy * img.width;
    const dst = (yy - y0) * widthPx - x0;
    for (let xx = xa; xx < xb; xx++) data[dst + xx] = img.data[src + xx] as number;
  }
  return {
    kind: "ok",
    width: widthPx,
    height: heightPx,
    data,
    cards: shiftedWcsCards(img.header, x0, y0),
    x0,
    y0,
    partial,
  };
}

/**
 * Encode a cutout as a FITS file: a primary HDU with float32 data (BITPIX -32, NaN where the stamp ran off the
 * image), the WCS cards, then `extraCards` (provenance and the like). Structural keys in `extraCards`
 * (BITPIX, NAXISn, ...) throw a TypeError, as in encodeImage.
 */
export function encodeCutout(c: Cutout, extraCards: readonly Card[] = []): Buffer {
  return encodeImage({
    bitpix: -32,
    shape: [c.width, c.height],
    data: c.data,
    cards: [...c.cards, ...extraCards],
  });
}

/** What stampFromImage made of a request: a FITS file, or why there is none (as cutout2d). */
export type Stamp =
  | { readonly kind: "ok"; readonly body: Buffer; readonly partial: boolean }
  | { readonly kind: "no_overlap" }
  | { readonly kind: "partial_refused" };

/**
 * The one way vocut cuts a stamp from a local image (`--images` and SIA local cuts alike): cutout2d (the
 * image's own pixels, CRPIX shifted, NaN where the stamp runs off the image, or "partial_refused" with
 * partial=false), then encoded as float32 FITS with the WCS cards, the image header's cards that still hold
 * for the stamp (headerCarryOver) and the caller's cards (provenance; they win over carried-over cards of the
 * same key). `cards` gets the cut (e.g. to record whether it ran off the image); `pixels`, when given,
 * replaces the cut's pixels (a co-add onto the stamp's grid). Sizes in image pixels; TypeError as cutout2d.
 */
export function stampFromImage(
  img: ImagePlane,
  wcs: CelestialWcs,
  raDeg: number,
  decDeg: number,
  widthPx: number,
  heightPx: number,
  opts: {
    readonly partial: boolean;
    readonly cards: (cut: Cutout) => readonly Card[];
    readonly pixels?: (cut: Cutout) => Float32Array;
  },
): Stamp {
  const cut = cutout2d(img, wcs, raDeg, decDeg, widthPx, heightPx, { partial: opts.partial });
  if (cut.kind !== "ok") return cut;
  const extra = opts.cards(cut);
  const kept = headerCarryOver(img.header, new Set(extra.map((c) => c.key)));
  const data = opts.pixels === undefined ? cut.data : opts.pixels(cut);
  return { kind: "ok", body: encodeCutout({ ...cut, data }, [...kept, ...extra]), partial: cut.partial };
}
