import { FitsError } from "../fits/errors.js";
import { type Card, FitsHeader } from "../fits/header.js";
import { type CelestialWcs, parseTan, type TanWcs, tanWcs, WcsError } from "./wcs.js";

/**
 * The FITS side of a stamp's TAN WCS: the header cards vocut writes, reading them back, and 1-based pixel
 * adapters for callers that think in FITS pixels. The projection itself is computed in src/wcs (0-based).
 */

/** A TAN WCS as header numbers (CRVAL degrees, 1-based CRPIX, CD degrees per pixel): src/wcs's type. */
export type { TanWcs };

/** Geometry of a north-up, east-left TAN stamp. */
export interface TanStampOptions {
  /** Centre right ascension (ICRS, degrees); written to CRVAL1 unchanged. */
  readonly raDeg: number;
  /** Centre declination (ICRS, degrees, -90..90). */
  readonly decDeg: number;
  /** Image width in pixels (NAXIS1). */
  readonly widthPx: number;
  /** Image height in pixels (NAXIS2). */
  readonly heightPx: number;
  /** Pixel size in arcseconds (the same on both axes). */
  readonly pixscaleArcsec: number;
  /** Only the gnomonic projection is supported. */
  readonly projection?: "TAN";
  /** Where the target sits (default "centred"): see StampGrid. */
  readonly grid?: StampGrid;
}

/**
 * The pixel grid of a stamp around its target (1-based FITS pixels, pixel centres at integers):
 * - "hips2fits": CRPIX = W/2, H/2, as the CDS hips2fits service and its offline script write it: the target
 *   is on the centre of pixel W/2 (even W), half a pixel below and left of the image centre;
 * - "centred": CRPIX = (W+1)/2, (H+1)/2: the target is the image centre (between pixels for even sizes).
 */
export type StampGrid = "hips2fits" | "centred";

/** The reference pixel along an axis of n pixels under `grid`. */
export function stampCrpix(n: number, grid: StampGrid): number {
  return grid === "hips2fits" ? n / 2 : (n + 1) / 2;
}

/** Header cards that state a stamp's grid convention (a keyword and a sentence). */
export function gridCards(grid: StampGrid): Card[] {
  return [
    { key: "VCGRID", value: grid, comment: "vocut stamp grid convention (--grid)" },
    {
      key: "COMMENT",
      value:
        grid === "hips2fits"
          ? "grid hips2fits: CRPIX = NAXISn/2, target on the centre of pixel NAXISn/2"
          : "grid centred: CRPIX = (NAXISn+1)/2, target at the image centre",
    },
  ];
}

/**
 * The TAN WCS of a north-up, east-left stamp around (raDeg, decDeg), as numbers: CRPIX by `grid` (default
 * "centred", (n + 1) / 2; "hips2fits", n / 2, is the CDS service's grid), CD = diag(-scale, +scale) (degrees
 * per pixel), LONPOLE by the FITS default. Bad arguments throw a TypeError naming them.
 */
export function tanStamp(opts: TanStampOptions): TanWcs {
  const { raDeg, decDeg, widthPx, heightPx, pixscaleArcsec } = opts;
  if (!Number.isFinite(raDeg)) throw new TypeError(`raDeg must be a finite number, got ${raDeg}`);
  if (!(decDeg >= -90 && decDeg <= 90)) throw new TypeError(`decDeg must be in [-90, 90], got ${decDeg}`);
  if (!Number.isInteger(widthPx) || widthPx < 1)
    throw new TypeError(`widthPx must be a positive integer, got ${widthPx}`);
  if (!Number.isInteger(heightPx) || heightPx < 1) {
    throw new TypeError(`heightPx must be a positive integer, got ${heightPx}`);
  }
  if (!(pixscaleArcsec > 0 && Number.isFinite(pixscaleArcsec))) {
    throw new TypeError(`pixscaleArcsec must be a positive number, got ${pixscaleArcsec}`);
  }
  if (opts.projection !== undefined && opts.projection !== "TAN") {
    throw new TypeError(`projection must be "TAN", got ${String(opts.projection)}`);
  }
  const scaleDeg = pixscaleArcsec / 3600;
  return {
    crval1: raDeg,
    crval2: decDeg,
    crpix1: stampCrpix(widthPx, opts.grid ?? "centred"),
    crpix2: stampCrpix(heightPx, opts.grid ?? "centred"),
    // East to the left: RA grows towards lower x.
    cd: [-scaleDeg, 0, 0, scaleDeg],
    // FITS WCS paper II, sec. 2.4: LONPOLE defaults to 180 unless the reference point is the pole itself.
    lonpole: decDeg >= 90 ? 0 : 180,
  };
}

/**
 * The celestial WCS cards of tanStamp(opts): CTYPE RA---TAN / DEC--TAN, CRVAL, CRPIX, CDELT1 = -scale,
 * CDELT2 = +scale (degrees), ICRS. Bad arguments throw a TypeError naming them.
 */
export function tanWcsCards(opts: TanStampOptions): Card[] {
  const t = tanStamp(opts);
  return [
    { key: "WCSAXES", value: 2, comment: "number of WCS axes" },
    { key: "CTYPE1", value: "RA---TAN", comment: "gnomonic projection" },
    { key: "CTYPE2", value: "DEC--TAN", comment: "gnomonic projection" },
    { key: "CRVAL1", value: t.crval1, comment: "[deg] RA at reference pixel" },
    { key: "CRVAL2", value: t.crval2, comment: "[deg] Dec at reference pixel" },
    { key: "CRPIX1", value: t.crpix1, comment: `reference pixel (grid ${opts.grid ?? "centred"})` },
    { key: "CRPIX2", value: t.crpix2, comment: `reference pixel (grid ${opts.grid ?? "centred"})` },
    { key: "CDELT1", value: t.cd[0], comment: "[deg/px] east left" },
    { key: "CDELT2", value: t.cd[3], comment: "[deg/px] north up" },
    { key: "CUNIT1", value: "deg" },
    { key: "CUNIT2", value: "deg" },
    { key: "RADESYS", value: "ICRS" },
    { key: "EQUINOX", value: 2000, comment: "[yr]" },
  ];
}

/** Anything a TAN WCS can be read from. */
export type TanWcsSource = TanWcs | FitsHeader | readonly Card[];

function isTanWcs(s: TanWcsSource): s is TanWcs {
  return !Array.isArray(s) && !(s instanceof FitsHeader);
}

/**
 * Read a TAN WCS from cards or a header (src/wcs's parser: CRVAL, CRPIX, and PCi_j with CDELTi, CDi_j or
 * CDELTi with CROTA2). A header whose WCS is not RA---TAN / DEC--TAN throws FitsError UNSUPPORTED; a missing or
 * broken keyword throws FitsError BAD_HEADER.
 */
export function parseTanWcs(source: TanWcsSource): TanWcs {
  if (isTanWcs(source)) return source;
  const h = source instanceof FitsHeader ? source : new FitsHeader(source as readonly Card[]);
  try {
    return parseTan(h);
  } catch (err) {
    if (!(err instanceof WcsError)) throw err;
    throw new FitsError(err.code === "UNSUPPORTED" ? "UNSUPPORTED" : "BAD_HEADER", err.message, {
      cause: err,
    });
  }
}

function tanOf(source: TanWcsSource): CelestialWcs {
  return tanWcs(parseTanWcs(source));
}

/**
 * Sky position (degrees, RA in [0, 360)) of FITS pixel (x, y), 1-based as in CRPIX (the first pixel's centre is
 * (1, 1)): src/wcs's TAN with the pixel shifted by one. Throws as parseTanWcs.
 */
export function tanPixelToWorld(
  source: TanWcsSource,
  x: number,
  y: number,
): { raDeg: number; decDeg: number } {
  return tanOf(source).pixelToWorld(x - 1, y - 1);
}

/**
 * FITS pixel (1-based, as in CRPIX) of a sky position (degrees); NaN for both coordinates 90 degrees or more
 * from the reference point (the far hemisphere, where TAN is undefined). Throws as parseTanWcs.
 */
export function tanWorldToPixel(
  source: TanWcsSource,
  raDeg: number,
  decDeg: number,
): { x: number; y: number } {
  const p = tanOf(source).worldToPixel(raDeg, decDeg);
  return { x: p.x + 1, y: p.y + 1 };
}
