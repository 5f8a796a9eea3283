import { type Card, FitsHeader } from "./header.js";

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
}

/**
 * The celestial WCS cards of a north-up, east-left TAN stamp centred on (raDeg, decDeg): CRPIX at the image
 * centre ((n + 1) / 2, between pixels for even sizes), CDELT1 = -scale, CDELT2 = +scale (degrees), ICRS.
 * This is the convention hips2fits uses for its FITS output. Bad arguments throw a TypeError naming them.
 */
export function tanWcsCards(opts: TanStampOptions): Card[] {
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
  return [
    { key: "WCSAXES", value: 2, comment: "number of WCS axes" },
    { key: "CTYPE1", value: "RA---TAN", comment: "gnomonic projection" },
    { key: "CTYPE2", value: "DEC--TAN", comment: "gnomonic projection" },
    { key: "CRVAL1", value: raDeg, comment: "[deg] RA at reference pixel" },
    { key: "CRVAL2", value: decDeg, comment: "[deg] Dec at reference pixel" },
    { key: "CRPIX1", value: (widthPx + 1) / 2, comment: "reference pixel (image centre)" },
    { key: "CRPIX2", value: (heightPx + 1) / 2, comment: "reference pixel (image centre)" },
    // East to the left: RA grows towards lower x.
    { key: "CDELT1", value: -scaleDeg, comment: "[deg/px] east left" },
    { key: "CDELT2", value: scaleDeg, comment: "[deg/px] north up" },
    { key: "CUNIT1", value: "deg" },
    { key: "CUNIT2", value: "deg" },
    { key: "RADESYS", value: "ICRS" },
    { key: "EQUINOX", value: 2000, comment: "[yr]" },
  ];
}

/** A parsed TAN WCS: reference point, reference pixel (1-based) and the CD matrix (degrees per pixel). */
export interface TanWcs {
  readonly crval1: number;
  readonly crval2: number;
  readonly crpix1: number;
  readonly crpix2: number;
  /** [CD1_1, CD1_2, CD2_1, CD2_2] in degrees per pixel. */
  readonly cd: readonly [number, number, number, number];
  /** Native longitude of the celestial pole (degrees); FITS default 180, or 0 when CRVAL2 = 90. */
  readonly lonpole: number;
}

/** Anything a TAN WCS can be read from. */
export type TanWcsSource = TanWcs | FitsHeader | readonly Card[];

const D2R = Math.PI / 180;
const R2D = 180 / Math.PI;

function isTanWcs(s: TanWcsSource): s is TanWcs {
  return !Array.isArray(s) && !(s instanceof FitsHeader);
}

/**
 * Read a TAN WCS from cards or a header: CRVAL, CRPIX, and CDi_j, or PCi_j (default identity) times CDELTi.
 * CTYPE must be RA---TAN/DEC--TAN; anything else (or a missing key) throws a TypeError.
 */
export function parseTanWcs(source: TanWcsSource): TanWcs {
  if (isTanWcs(source)) return source;
  const h = source instanceof FitsHeader ? source : new FitsHeader(source as readonly Card[]);
  const c1 = h.getString("CTYPE1");
  const c2 = h.getString("CTYPE2");
  if (c1 !== "RA---TAN" || c2 !== "DEC--TAN") {
    throw new TypeError(`WCS must be RA---TAN / DEC--TAN, got ${String(c1)} / ${String(c2)}`);
  }
  const need = (key: string): number => {
    const v = h.getNumber(key);
    if (v === undefined) throw new TypeError(`WCS is missing ${key}`);
    return v;
  };
  const crval2 = need("CRVAL2");
  let cd: [number, number, number, number];
  if (h.has("CD1_1") || h.has("CD1_2") || h.has("CD2_1") || h.has("CD2_2")) {
    cd = [
      h.getNumber("CD1_1") ?? 0,
      h.getNumber("CD1_2") ?? 0,
      h.getNumber("CD2_1") ?? 0,
      h.getNumber("CD2_2") ?? 0,
    ];
  } else {
    const d1 = h.getNumber("CDELT1") ?? 1;
    const d2 = h.getNumber("CDELT2") ?? 1;
    cd = [
      d1 * (h.getNumber("PC1_1") ?? 1),
      d1 * (h.getNumber("PC1_2") ?? 0),
      d2 * (h.getNumber("PC2_1") ?? 0),
      d2 * (h.getNumber("PC2_2") ?? 1),
    ];
  }
  return {
    crval1: need("CRVAL1"),
    crval2,
    crpix1: need("CRPIX1"),
    crpix2: need("CRPIX2"),
    cd,
    // FITS WCS paper II, sec. 2.4: LONPOLE defaults to 180 unless the reference point is the pole itself.
    lonpole: h.getNumber("LONPOLE") ?? (crval2 >= 90 ? 0 : 180),
  };
}

/**
 * Sky position (degrees, RA in [0, 360)) of FITS pixel (x, y), 1-based as in CRPIX (the first pixel's centre
 * is (1, 1)). Gnomonic projection with the spherical rotation of FITS WCS paper II; matches wcslib to ~1e-12 deg.
 */
export function tanPixelToWorld(
  source: TanWcsSource,
  x: number,
  y: number,
): { raDeg: number; decDeg: number } {
  const w = parseTanWcs(source);
  const dx = x - w.crpix1;
  const dy = y - w.crpix2;
  // Intermediate world coordinates (degrees) in the projection plane.
  const u = w.cd[0] * dx + w.cd[1] * dy;
  const v = w.cd[2] * dx + w.cd[3] * dy;
  // TAN: R = (180/pi) cot(theta), x = R sin(phi), y = -R cos(phi). Work with the unit vector so that the
  // reference point (R = 0) and points near the pole need no special case and keep full precision.
  const k = R2D;
  const norm = Math.hypot(k, u, v);
  const sinT = k / norm;
  const cosTsinP = u / norm;
  const cosTcosP = -v / norm;
  const pp = w.lonpole * D2R;
  // cos(theta) sin(phi - phi_p) and cos(theta) cos(phi - phi_p).
  const s = cosTsinP * Math.cos(pp) - cosTcosP * Math.sin(pp);
  const c = cosTcosP * Math.cos(pp) + cosTsinP * Math.sin(pp);
  const d0 = w.crval2 * D2R;
  const a = -s;
  const b = sinT * Math.cos(d0) - c * Math.sin(d0);
  const z = sinT * Math.sin(d0) + c * Math.cos(d0);
  let ra = w.crval1 + Math.atan2(a, b) * R2D;
  ra %= 360;
  if (ra < 0) ra += 360;
  if (ra >= 360) ra -= 360;
  return { raDeg: ra, decDeg: Math.atan2(z, Math.hypot(a, b)) * R2D };
}

/**
 * FITS pixel (1-based, as in CRPIX) of a sky position (degrees). Points 90 degrees or more from the reference
 * point (the far hemisphere, where TAN is undefined) give NaN for both coordinates.
 */
export function tanWorldToPixel(
  source: TanWcsSource,
  raDeg: number,
  decDeg: number,
): { x: number; y: number } {
  const w = parseTanWcs(source);
  const da = (raDeg - w.crval1) * D2R;
  const d = decDeg * D2R;
  const d0 = w.crval2 * D2R;
  // cos(theta) sin(phi - phi_p), cos(theta) cos(phi - phi_p), sin(theta): paper II eq. 5 as a unit vector.
  const s = -Math.cos(d) * Math.sin(da);
  const c = Math.sin(d) * Math.cos(d0) - Math.cos(d) * Math.sin(d0) * Math.cos(da);
  const sinT = Math.sin(d) * Math.sin(d0) + Math.cos(d) * Math.cos(d0) * Math.cos(da);
  if (!(sinT > 0)) return { x: Number.NaN, y: Number.NaN };
  const pp = w.lonpole * D2R;
  const cosTsinP = s * Math.cos(pp) + c * Math.sin(pp);
  const cosTcosP = c * Math.cos(pp) - s * Math.sin(pp);
  const u = (R2D * cosTsinP) / sinT;
  const v = (-R2D * cosTcosP) / sinT;
  const [m11, m12, m21, m22] = w.cd;
  const det = m11 * m22 - m12 * m21;
  return { x: w.crpix1 + (m22 * u - m12 * v) / det, y: w.crpix2 + (-m21 * u + m11 * v) / det };
}
