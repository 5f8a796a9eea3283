/**
 * The one celestial WCS library of vocut: every projection (TAN, SIN, NCP, ZPN, each with optional SIP) is
 * computed here and nowhere else. Pixel convention: 0-based pixel centres everywhere in this API (the first
 * pixel's centre is (0, 0), its edges at -0.5 and 0.5, as astropy's world_to_pixel and numpy indices). FITS's
 * 1-based convention appears only where header values are read or written (CRPIX, and the 1-based adapters of
 * src/wcs/tan-header.ts).
 */
import { FitsError } from "../fits/errors.js";
import type { FitsHeader } from "../fits/header.js";
import { galacticToIcrs, icrsToGalactic } from "../sky/galactic.js";

/** Why a header's WCS cannot be used: a valid WCS this module does not handle, or a broken one. */
export type WcsErrorCode = "UNSUPPORTED" | "BAD_WCS";

/** A celestial WCS that cannot be parsed, with a stable `code` (UNSUPPORTED or BAD_WCS). */
export class WcsError extends Error {
  readonly code: WcsErrorCode;
  constructor(code: WcsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "WcsError";
    this.code = code;
  }
}

/** The celestial WCS of one image: world (ICRS degrees) <-> 0-based pixel coordinates. */
export interface CelestialWcs {
  /** CTYPE1/CTYPE2 as given, e.g. ["RA---ZPN", "DEC--ZPN"]. */
  readonly ctype: readonly [string, string];
  /** The projection code: "TAN", "SIN", "NCP" (computed as SIN, Paper II sec. 5.1.1) or "ZPN". */
  readonly projection: Projection;
  /** True when SIP distortion (A_ORDER/B_ORDER) is applied in pixel space. */
  readonly sip: boolean;
  /** Approximate pixel size in degrees: sqrt(|det CD|), ignoring projection and SIP distortion. */
  readonly pixelScaleDeg: number;
  /**
   * 0-based pixel coordinates as astropy's world_to_pixel (centre of the first pixel = (0,0)); NaN when the
   * position cannot be projected (e.g. the far hemisphere for SIN/TAN, beyond a ZPN turning point).
   */
  worldToPixel(raDeg: number, decDeg: number): { x: number; y: number };
  /** ICRS position (degrees, RA in [0, 360)) of 0-based pixel (x, y); NaN where the pixel is off the sky. */
  pixelToWorld(x: number, y: number): { raDeg: number; decDeg: number };
}

/** Projections this module computes. */
export type Projection = "TAN" | "SIN" | "NCP" | "ZPN";
const PROJECTIONS: ReadonlySet<string> = new Set(["TAN", "SIN", "NCP", "ZPN"]);

const D2R = Math.PI / 180;
const R2D = 180 / Math.PI;

/** sin and cos of an angle in degrees, exact at multiples of 90 (LONPOLE 180, CRVAL2 90 are common). */
function sincosd(deg: number): [number, number] {
  const r = ((deg % 360) + 360) % 360;
  if (r === 0) return [0, 1];
  if (r === 90) return [1, 0];
  if (r === 180) return [0, -1];
  if (r === 270) return [-1, 0];
  return [Math.sin(deg * D2R), Math.cos(deg * D2R)];
}

/** A SIP polynomial: coefficient of u^p v^q at [p][q] (p + q <= order). */
type Poly = readonly (readonly number[])[];

/** Native spherical direction as a unit vector: (cos t sin phi, cos t cos phi, sin t), t = native latitude. */
type Native = [number, number, number];

interface Parsed {
  readonly ctype: readonly [string, string];
  readonly projection: Projection;
  /** 0 when axis 1 is longitude (RA/GLON), 1 when the axes are swapped. */
  readonly lngAxis: 0 | 1;
  readonly galactic: boolean;
  readonly crpix: readonly [number, number];
  /** CRVAL of the longitude and latitude axes (degrees). */
  readonly lng0: number;
  readonly lat0: number;
  /** Linear transform, pixel offsets -> intermediate world coordinates in degrees, row-major. */
  readonly m: readonly [number, number, number, number];
  readonly lonpoleDeg: number;
  /** SIN: xi, eta (PV2_1, PV2_2). */
  readonly xi: number;
  readonly eta: number;
  /** ZPN polynomial coefficients PV2_0..PV2_n (radians); zetaMax / rMax: its first turning point. */
  readonly zpn: readonly number[];
  readonly zetaMax: number;
  readonly rMax: number;
  readonly sipA?: Poly;
  readonly sipB?: Poly;
  readonly sipAp?: Poly;
  readonly sipBp?: Poly;
}

/**
 * Parse the celestial WCS of an image header: TAN, SIN (incl. PV2_1/PV2_2 = 0 only or general), NCP, ZPN
 * (PV2_0..PV2_n polynomial; UKIDSS WFCAM uses ZPN with PV2_1, PV2_3), TAN-SIP (A_ORDER/A_p_q, B_...; AP_/BP_
 * only seed the exact iterative inverse); CD matrix or PC + CDELT or CDELT + CROTA2; LONPOLE default per
 * Paper II; RADESYS ICRS or FK5 J2000 (treated as ICRS); RA/DEC or GLON/GLAT (converted to ICRS) axes in
 * either order. Throws WcsError: UNSUPPORTED (another projection, frame or unit) or BAD_WCS (missing or
 * non-finite keywords, singular matrix, impossible ZPN polynomial).
 */
export function parseWcs(header: FitsHeader): CelestialWcs {
  return new Wcs(parse(header));
}

function num(h: FitsHeader, key: string): number | undefined {
  let v: number | undefined;
  try {
    v = h.getNumber(key);
  } catch (err) {
    if (err instanceof FitsError) throw new WcsError("BAD_WCS", `${key}: ${err.message}`, { cause: err });
    throw err;
  }
  if (v !== undefined && !Number.isFinite(v)) throw new WcsError("BAD_WCS", `${key} = ${v} is not finite`);
  return v;
}

function need(h: FitsHeader, key: string): number {
  const v = num(h, key);
  if (v === undefined) throw new WcsError("BAD_WCS", `the WCS has no ${key}`);
  return v;
}

function str(h: FitsHeader, key: string): string | undefined {
  const v = h.get(key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw new WcsError("BAD_WCS", `${key} = ${String(v)} is not a string`);
  return v.trim();
}

const SUPPORTED_TEXT = "supported: TAN, SIN, NCP, ZPN, each optionally with SIP";

function parse(h: FitsHeader): Parsed {
  const c1 = str(h, "CTYPE1");
  const c2 = str(h, "CTYPE2");
  if (c1 === undefined || c2 === undefined) {
    throw new WcsError("BAD_WCS", `the header has no celestial WCS (CTYPE1 = ${c1}, CTYPE2 = ${c2})`);
  }
  const ctype: [string, string] = [c1, c2];
  const kind = (c: string): string => c.slice(0, 4).replace(/-+$/, "");
  const k1 = kind(c1);
  const k2 = kind(c2);
  let lngAxis: 0 | 1;
  let galactic = false;
  if (k1 === "RA" && k2 === "DEC") lngAxis = 0;
  else if (k1 === "DEC" && k2 === "RA") lngAxis = 1;
  else if (k1 === "GLON" && k2 === "GLAT") [lngAxis, galactic] = [0, true];
  else if (k1 === "GLAT" && k2 === "GLON") [lngAxis, galactic] = [1, true];
  else {
    throw new WcsError(
      "UNSUPPORTED",
      `celestial axes ${c1} / ${c2} are not supported: only RA/DEC (ICRS, FK5 J2000) and GLON/GLAT`,
    );
  }
  const code = (c: string): string => (c.length >= 8 && c[4] === "-" ? c.slice(5, 8) : "");
  const p1 = code(c1);
  const p2 = code(c2);
  if (p1 !== p2)
    throw new WcsError("BAD_WCS", `CTYPE1 = ${c1} and CTYPE2 = ${c2} name different projections`);
  if (!PROJECTIONS.has(p1)) {
    throw new WcsError(
      "UNSUPPORTED",
      `projection ${p1 === "" ? "(none)" : p1} (CTYPE1 = '${c1}') is not supported; ${SUPPORTED_TEXT}`,
    );
  }
  for (const c of ctype) {
    const suffix = c.slice(8);
    if (suffix !== "" && suffix !== "-SIP") {
      throw new WcsError(
        "UNSUPPORTED",
        `CTYPE '${c}': distortion ${suffix} is not supported; ${SUPPORTED_TEXT}`,
      );
    }
  }
  const projection = p1 as Projection;
  for (const i of [1, 2]) {
    const unit = str(h, `CUNIT${i}`);
    if (unit !== undefined && unit !== "" && unit.toLowerCase() !== "deg") {
      throw new WcsError("UNSUPPORTED", `CUNIT${i} = '${unit}': celestial axes must be in degrees`);
    }
  }
  if (!galactic) checkFrame(h);
  const crpix: [number, number] = [need(h, "CRPIX1"), need(h, "CRPIX2")];
  const crval: [number, number] = [need(h, "CRVAL1"), need(h, "CRVAL2")];
  const lng0 = crval[lngAxis];
  const lat0 = crval[1 - lngAxis] as number;
  const m = linear(h);
  checkGeometry(lat0, m);
  // Zenithal projections put the reference point at the native pole (theta0 = 90), so delta_p = CRVAL(lat) and
  // LATPOLE is irrelevant. Paper II sec. 2.4: LONPOLE defaults to 0 if delta0 >= theta0, else 180.
  const lat = lngAxis === 0 ? 2 : 1;
  const phi0 = num(h, `PV${lngAxis + 1}_1`);
  const theta0 = num(h, `PV${lngAxis + 1}_2`);
  if ((phi0 !== undefined && phi0 !== 0) || (theta0 !== undefined && theta0 !== 90)) {
    throw new WcsError(
      "UNSUPPORTED",
      `an offset native reference point (PV${lngAxis + 1}_1/2) is not supported`,
    );
  }
  const lonpoleDeg = num(h, "LONPOLE") ?? num(h, `PV${lngAxis + 1}_3`) ?? defaultLonpole(lat0);
  const pv = (k: number): number | undefined => num(h, `PV${lat}_${k}`);
  let xi = 0;
  let eta = 0;
  let zpn: number[] = [];
  let zetaMax = Math.PI;
  let rMax = Number.POSITIVE_INFINITY;
  if (projection === "SIN") {
    xi = pv(1) ?? 0;
    eta = pv(2) ?? 0;
  } else if (projection === "NCP") {
    // NCP is SIN with xi = 0, eta = cot(delta0) (Paper II sec. 5.1.1; wcslib/astropy translate it the same way).
    if (lat0 === 0) throw new WcsError("BAD_WCS", "NCP is undefined with a reference point on the equator");
    const [s, c] = sincosd(lat0);
    eta = c / s;
  } else if (projection === "ZPN") {
    ({ zpn, zetaMax, rMax } = zpnSetup(pv));
  }
  const sip = parseSip(h);
  return {
    ctype,
    projection,
    lngAxis,
    galactic,
    crpix,
    lng0,
    lat0,
    m,
    lonpoleDeg,
    xi,
    eta,
    zpn,
    zetaMax,
    rMax,
    ...sip,
  };
}

/** A reference latitude on the sphere and an invertible pixel-to-sky matrix, or BAD_WCS. */
function checkGeometry(lat0: number, m: readonly [number, number, number, number]): void {
  if (!(Math.abs(lat0) <= 90))
    throw new WcsError("BAD_WCS", `reference latitude ${lat0} is outside [-90, 90]`);
  const det = m[0] * m[3] - m[1] * m[2];
  if (!(Math.abs(det) > 0) || !Number.isFinite(det)) {
    throw new WcsError("BAD_WCS", `the pixel-to-sky matrix [${m.join(", ")}] is singular`);
  }
}

/** Paper II sec. 2.4 for zenithal projections: LONPOLE is 0 when the reference point is the pole, else 180. */
function defaultLonpole(lat0Deg: number): number {
  return lat0Deg >= 90 ? 0 : 180;
}

/**
 * A TAN WCS given as numbers rather than header cards: the stamps vocut writes (src/wcs/tan-header.ts) and SIA 1
 * answers that describe each image's WCS in columns. Fields are FITS header values, so CRPIX is 1-based.
 */
export interface TanWcs {
  /** CRVAL1, CRVAL2: RA and Dec of the reference point (ICRS, degrees). */
  readonly crval1: number;
  readonly crval2: number;
  /** CRPIX1, CRPIX2 as written in the header (1-based: the first pixel's centre is 1). */
  readonly crpix1: number;
  readonly crpix2: number;
  /** [CD1_1, CD1_2, CD2_1, CD2_2] in degrees per pixel. */
  readonly cd: readonly [number, number, number, number];
  /** Native longitude of the celestial pole (degrees); FITS default 180, or 0 when CRVAL2 = 90. */
  readonly lonpole: number;
}

/**
 * The CelestialWcs (0-based pixels) of a RA---TAN / DEC--TAN WCS given as numbers, ICRS, no distortion.
 * Throws WcsError BAD_WCS for non-finite values, a reference latitude outside [-90, 90] or a singular matrix.
 */
export function tanWcs(t: TanWcs): CelestialWcs {
  return new Wcs(tanParsed(t));
}

function tanParsed(t: TanWcs): Parsed {
  const values = [t.crval1, t.crval2, t.crpix1, t.crpix2, ...t.cd, t.lonpole];
  if (!values.every(Number.isFinite))
    throw new WcsError("BAD_WCS", `non-finite TAN WCS [${values.join(", ")}]`);
  checkGeometry(t.crval2, t.cd);
  return {
    ctype: ["RA---TAN", "DEC--TAN"],
    projection: "TAN",
    lngAxis: 0,
    galactic: false,
    crpix: [t.crpix1, t.crpix2],
    lng0: t.crval1,
    lat0: t.crval2,
    m: t.cd,
    lonpoleDeg: t.lonpole,
    xi: 0,
    eta: 0,
    zpn: [],
    zetaMax: Math.PI,
    rMax: Number.POSITIVE_INFINITY,
  };
}

/**
 * The numbers of a header's WCS when it is a plain RA---TAN / DEC--TAN one (no SIP, RA first, ICRS/FK5), for
 * callers that write it back or hand it on (src/wcs/tan-header.ts). Throws WcsError as parseWcs does, and
 * UNSUPPORTED for any other projection or axis layout.
 */
export function parseTan(header: FitsHeader): TanWcs {
  const p = parse(header);
  if (p.ctype[0] !== "RA---TAN" || p.ctype[1] !== "DEC--TAN" || p.sipA !== undefined) {
    throw new WcsError(
      "UNSUPPORTED",
      `WCS must be RA---TAN / DEC--TAN without SIP, got ${p.ctype[0]} / ${p.ctype[1]}`,
    );
  }
  const [crpix1, crpix2] = p.crpix;
  return { crval1: p.lng0, crval2: p.lat0, crpix1, crpix2, cd: p.m, lonpole: p.lonpoleDeg };
}

/**
 * Gnomonic (TAN) standard coordinates about (ra0Deg, dec0Deg): a function giving, for an ICRS position, the
 * point on the tangent plane in degrees, x towards east and y towards north; NaN for positions 90 degrees or
 * more from the centre (the far hemisphere, where TAN is undefined). The same projection as tanWcs, before
 * the pixel matrix.
 */
export function gnomonic(
  ra0Deg: number,
  dec0Deg: number,
): (raDeg: number, decDeg: number) => [number, number] {
  const w = new Wcs(
    tanParsed({
      crval1: ra0Deg,
      crval2: dec0Deg,
      crpix1: 1,
      crpix2: 1,
      cd: [1, 0, 0, 1],
      lonpole: defaultLonpole(dec0Deg),
    }),
  );
  return (raDeg, decDeg) => w.worldToPlane(raDeg, decDeg);
}

/**
 * Only ICRS and FK5 J2000 are accepted. FK5 J2000 differs from ICRS by about 20 mas, far below any survey
 * pixel, so it is treated as ICRS. FK4 (B1950) and other equinoxes would need precession: UNSUPPORTED.
 */
function checkFrame(h: FitsHeader): void {
  const sys = str(h, "RADESYS") ?? str(h, "RADECSYS");
  const equinox = num(h, "EQUINOX") ?? num(h, "EPOCH");
  if (sys === undefined || sys === "") {
    // Paper II sec. 3.1: without RADESYS, EQUINOX before 1984 means FK4.
    if (equinox !== undefined && equinox < 1984) {
      throw new WcsError(
        "UNSUPPORTED",
        `EQUINOX = ${equinox} without RADESYS means FK4: only ICRS/FK5 J2000`,
      );
    }
    if (equinox !== undefined && equinox !== 2000) {
      throw new WcsError("UNSUPPORTED", `EQUINOX = ${equinox}: only ICRS or FK5 J2000 are supported`);
    }
    return;
  }
  const s = sys.toUpperCase();
  if (s === "ICRS") return;
  if (s === "FK5" && (equinox === undefined || equinox === 2000)) return;
  throw new WcsError(
    "UNSUPPORTED",
    `RADESYS = '${sys}'${equinox === undefined ? "" : `, EQUINOX = ${equinox}`}: only ICRS or FK5 J2000 are supported`,
  );
}

/**
 * The pixel -> intermediate world matrix (degrees per pixel) as wcslib chooses it: PCi_j (with CDELTi) if any
 * PC card is present, else CDi_j if any CD card is present, else CDELTi with CROTA2 (Paper II eq. 188).
 * Missing CDi_j are 0; unlike astropy's cdfix (which invents CD2_2 = 1 for a lone CD1_1) a singular result is
 * refused by the caller.
 */
function linear(h: FitsHeader): [number, number, number, number] {
  const keys = (p: string): string[] => [`${p}1_1`, `${p}1_2`, `${p}2_1`, `${p}2_2`];
  const has = (p: string): boolean => keys(p).some((k) => h.has(k));
  const d1 = num(h, "CDELT1") ?? 1;
  const d2 = num(h, "CDELT2") ?? 1;
  if (has("PC")) {
    const [a, b, c, d] = keys("PC").map((k, i) => num(h, k) ?? (i === 0 || i === 3 ? 1 : 0)) as [
      number,
      number,
      number,
      number,
    ];
    return [d1 * a, d1 * b, d2 * c, d2 * d];
  }
  if (has("CD")) return keys("CD").map((k) => num(h, k) ?? 0) as [number, number, number, number];
  const rho = num(h, "CROTA2") ?? num(h, "CROTA1") ?? 0;
  const [s, c] = sincosd(rho);
  return [d1 * c, -d2 * s, d1 * s, d2 * c];
}

function polyOf(h: FitsHeader, prefix: string, order: number): number[][] {
  const out: number[][] = [];
  for (let p = 0; p <= order; p++) {
    const row: number[] = [];
    for (let q = 0; q + p <= order; q++) row.push(num(h, `${prefix}_${p}_${q}`) ?? 0);
    out.push(row);
  }
  return out;
}

function sipOrder(h: FitsHeader, key: string): number | undefined {
  const o = num(h, key);
  if (o === undefined) return undefined;
  if (!Number.isInteger(o) || o < 0 || o > 20) throw new WcsError("BAD_WCS", `${key} = ${o} is not 0..20`);
  return o;
}

/**
 * SIP (Shupe et al. 2005) as astropy applies it: whenever A_ORDER is present, with or without "-SIP" in CTYPE.
 * The forward polynomials A, B are the definition; AP/BP are only an approximate inverse, used as the start
 * of an exact iteration, which is what astropy's all_world2pix computes as well.
 */
function parseSip(h: FitsHeader): Pick<Parsed, "sipA" | "sipB" | "sipAp" | "sipBp"> {
  const a = sipOrder(h, "A_ORDER");
  const b = sipOrder(h, "B_ORDER");
  if (a === undefined && b === undefined) return {};
  if (a === undefined || b === undefined) throw new WcsError("BAD_WCS", "SIP needs both A_ORDER and B_ORDER");
  const out: { sipA: Poly; sipB: Poly; sipAp?: Poly; sipBp?: Poly } = {
    sipA: polyOf(h, "A", a),
    sipB: polyOf(h, "B", b),
  };
  const ap = sipOrder(h, "AP_ORDER");
  const bp = sipOrder(h, "BP_ORDER");
  if (ap !== undefined && bp !== undefined) {
    out.sipAp = polyOf(h, "AP", ap);
    out.sipBp = polyOf(h, "BP", bp);
  }
  return out;
}

function polyEval(c: readonly number[], z: number): number {
  let s = 0;
  for (let m = c.length - 1; m >= 0; m--) s = s * z + (c[m] as number);
  return s;
}

function polyDeriv(c: readonly number[], z: number): number {
  let s = 0;
  for (let m = c.length - 1; m >= 1; m--) s = s * z + m * (c[m] as number);
  return s;
}

/**
 * ZPN set-up after wcslib's zpnset (Paper II sec. 5.1.7): coefficients up to the last non-zero one; with degree
 * >= 2, PV2_1 must be positive and the projection ends at the first turning point of R(zeta), found on a
 * 1-degree scan and refined, beyond which positions are unprojectable.
 */
function zpnSetup(pv: (k: number) => number | undefined): { zpn: number[]; zetaMax: number; rMax: number } {
  const all: number[] = [];
  for (let k = 0; k < 30; k++) all.push(pv(k) ?? 0);
  let n = all.length - 1;
  while (n >= 0 && all[n] === 0) n--;
  if (n < 0) throw new WcsError("BAD_WCS", "ZPN needs at least one non-zero PV2_m coefficient");
  const zpn = all.slice(0, n + 1);
  if (n < 2) return { zpn, zetaMax: Math.PI, rMax: Number.POSITIVE_INFINITY };
  if (!((zpn[1] as number) > 0)) {
    throw new WcsError("BAD_WCS", `ZPN with PV2_1 = ${zpn[1]} has no valid region (PV2_1 must be > 0)`);
  }
  let z1 = 0;
  let d1 = zpn[1] as number;
  let z2 = 0;
  let d2 = d1;
  let j = 0;
  for (; j < 180; j++) {
    z2 = j * D2R;
    d2 = polyDeriv(zpn, z2);
    if (d2 <= 0) break;
    z1 = z2;
    d1 = d2;
  }
  if (j === 180) return { zpn, zetaMax: Math.PI, rMax: Number.POSITIVE_INFINITY };
  let z = z1;
  for (let i = 0; i < 60; i++) {
    z = z1 - (d1 * (z2 - z1)) / (d2 - d1);
    const d = polyDeriv(zpn, z);
    if (Math.abs(d) < 1e-13) break;
    if (d < 0) [z2, d2] = [z, d];
    else [z1, d1] = [z, d];
  }
  return { zpn, zetaMax: z, rMax: polyEval(zpn, z) };
}

/** Solve R(zeta) = r on [0, zetaMax] (R increasing there): Newton kept inside a shrinking bracket. */
function zpnInverse(p: Parsed, r: number): number {
  const c = p.zpn;
  const tol = 1e-13;
  if (c.length === 1) return Number.NaN;
  if (c.length === 2) {
    const z = (r - (c[0] as number)) / (c[1] as number);
    if (z < 0) return z < -tol ? Number.NaN : 0;
    if (z > Math.PI) return z > Math.PI + tol ? Number.NaN : Math.PI;
    return z;
  }
  let lo = 0;
  let hi = p.zetaMax;
  const rLo = polyEval(c, lo);
  if (r <= rLo) return r < rLo - tol ? Number.NaN : 0;
  if (Number.isFinite(p.rMax) && r >= p.rMax) return r > p.rMax + tol ? Number.NaN : p.zetaMax;
  // With no turning point (zetaMax = pi) R may still be below r at pi: unprojectable.
  if (polyEval(c, hi) < r) return Number.NaN;
  let z = Math.min(Math.max((r - (c[0] as number)) / (c[1] as number), lo), hi);
  for (let i = 0; i < 100; i++) {
    const f = polyEval(c, z) - r;
    if (f === 0) return z;
    if (f > 0) hi = z;
    else lo = z;
    const d = polyDeriv(c, z);
    let next = z - f / d;
    if (!(next > lo && next < hi)) next = (lo + hi) / 2;
    if (Math.abs(next - z) <= 1e-16 * Math.max(1, z)) return next;
    z = next;
  }
  return z;
}

function sipEval(c: Poly, u: number, v: number): number {
  let s = 0;
  let up = 1;
  for (let p = 0; p < c.length; p++) {
    const row = c[p] as readonly number[];
    let vq = 1;
    for (let q = 0; q < row.length; q++) {
      s += (row[q] as number) * up * vq;
      vq *= v;
    }
    up *= u;
  }
  return s;
}

/** d/du and d/dv of a SIP polynomial. */
function sipGrad(c: Poly, u: number, v: number): [number, number] {
  let du = 0;
  let dv = 0;
  for (let p = 0; p < c.length; p++) {
    const row = c[p] as readonly number[];
    for (let q = 0; q < row.length; q++) {
      const k = row[q] as number;
      if (k === 0) continue;
      if (p > 0) du += k * p * u ** (p - 1) * v ** q;
      if (q > 0) dv += k * q * u ** p * v ** (q - 1);
    }
  }
  return [du, dv];
}

class Wcs implements CelestialWcs {
  readonly ctype: readonly [string, string];
  readonly projection: Projection;
  readonly sip: boolean;
  readonly pixelScaleDeg: number;
  readonly #p: Parsed;
  readonly #inv: readonly [number, number, number, number];
  // sin/cos of delta_p and phi_p, fixed per WCS.
  readonly #sd: number;
  readonly #cd: number;
  readonly #sp: number;
  readonly #cp: number;

  constructor(p: Parsed) {
    this.#p = p;
    this.ctype = p.ctype;
    this.projection = p.projection;
    this.sip = p.sipA !== undefined;
    const [a, b, c, d] = p.m;
    const det = a * d - b * c;
    this.pixelScaleDeg = Math.sqrt(Math.abs(det));
    this.#inv = [d / det, -b / det, -c / det, a / det];
    [this.#sd, this.#cd] = sincosd(p.lat0);
    [this.#sp, this.#cp] = sincosd(p.lonpoleDeg);
  }

  pixelToWorld(x: number, y: number): { raDeg: number; decDeg: number } {
    const p = this.#p;
    // FITS pixel offsets from CRPIX (1-based): x + 1 - CRPIX.
    let u = x + 1 - p.crpix[0];
    let v = y + 1 - p.crpix[1];
    if (p.sipA !== undefined && p.sipB !== undefined) {
      const du = sipEval(p.sipA, u, v);
      const dv = sipEval(p.sipB, u, v);
      u += du;
      v += dv;
    }
    const i1 = p.m[0] * u + p.m[1] * v;
    const i2 = p.m[2] * u + p.m[3] * v;
    const [px, py] = p.lngAxis === 0 ? [i1, i2] : [i2, i1];
    const n = this.#deproject(px, py);
    if (n === undefined) return { raDeg: Number.NaN, decDeg: Number.NaN };
    const { lng, lat } = this.#nativeToCelestial(n);
    if (!p.galactic) return { raDeg: lng, decDeg: lat };
    return galacticToIcrs(lng, lat);
  }

  /**
   * Projection-plane coordinates (degrees; Paper I's intermediate world coordinates of the longitude and
   * latitude axes, before the pixel matrix) of an ICRS position; NaN where it cannot be projected.
   */
  worldToPlane(raDeg: number, decDeg: number): [number, number] {
    const p = this.#p;
    if (!Number.isFinite(raDeg) || !Number.isFinite(decDeg)) return [Number.NaN, Number.NaN];
    let lng = raDeg;
    let lat = decDeg;
    if (p.galactic) ({ lDeg: lng, bDeg: lat } = icrsToGalactic(raDeg, decDeg));
    return this.#project(this.#celestialToNative(lng, lat)) ?? [Number.NaN, Number.NaN];
  }

  worldToPixel(raDeg: number, decDeg: number): { x: number; y: number } {
    const p = this.#p;
    const nan = { x: Number.NaN, y: Number.NaN };
    const plane = this.worldToPlane(raDeg, decDeg);
    if (Number.isNaN(plane[0]) || Number.isNaN(plane[1])) return nan;
    const [i1, i2] = p.lngAxis === 0 ? plane : [plane[1], plane[0]];
    const k = this.#inv;
    let u = k[0] * i1 + k[1] * i2;
    let v = k[2] * i1 + k[3] * i2;
    if (p.sipA !== undefined && p.sipB !== undefined) {
      const r = sipInverse(p, u, v);
      if (r === undefined) return nan;
      [u, v] = r;
    }
    return { x: u + p.crpix[0] - 1, y: v + p.crpix[1] - 1 };
  }

  /** Paper II eq. 5 as a unit vector; the near-reference terms use half-angle forms to keep full precision. */
  #celestialToNative(lngDeg: number, latDeg: number): Native {
    const p = this.#p;
    const da = (lngDeg - p.lng0) * D2R;
    const d = latDeg * D2R;
    const cd = Math.cos(d);
    const h = Math.sin(da / 2);
    const oneMinusCos = 2 * h * h;
    const dd = d - p.lat0 * D2R;
    // sin(d - dp) + cos d sin dp (1 - cos da) = sin d cos dp - cos d sin dp cos da.
    const s = -cd * Math.sin(da);
    const c = Math.sin(dd) + cd * this.#sd * oneMinusCos;
    const z = Math.cos(dd) - cd * this.#cd * oneMinusCos;
    // Rotate by phi_p: (cos t sin phi, cos t cos phi).
    const a = s * this.#cp + c * this.#sp;
    const b = c * this.#cp - s * this.#sp;
    return [a, b, z];
  }

  #nativeToCelestial(n: Native): { lng: number; lat: number } {
    const [a, b, z] = n;
    const s = a * this.#cp - b * this.#sp;
    const c = b * this.#cp + a * this.#sp;
    const x = z * this.#cd - c * this.#sd;
    const sinLat = z * this.#sd + c * this.#cd;
    let lng = this.#p.lng0 + Math.atan2(-s, x) * R2D;
    lng %= 360;
    if (lng < 0) lng += 360;
    if (lng >= 360) lng -= 360;
    return { lng, lat: Math.atan2(sinLat, Math.hypot(s, x)) * R2D };
  }

  /** Native unit vector -> projection-plane (x, y) in degrees, or undefined where the projection is invalid. */
  #project(n: Native): [number, number] | undefined {
    const p = this.#p;
    const [a, b, z] = n;
    switch (p.projection) {
      case "TAN":
        if (!(z > 0)) return undefined;
        return [(R2D * a) / z, (-R2D * b) / z];
      case "SIN":
      case "NCP": {
        // Visible side of a slant orthographic projection: theta >= -atan(xi sin phi - eta cos phi).
        if (z + p.xi * a - p.eta * b < 0) return undefined;
        // 1 - sin(theta) = cos^2(theta) / (1 + sin(theta)), exact near the reference point.
        const rho2 = a * a + b * b;
        const t = z > 0 ? rho2 / (1 + z) : 1 - z;
        return [R2D * (a + p.xi * t), -R2D * (b - p.eta * t)];
      }
      case "ZPN": {
        const rho = Math.hypot(a, b);
        const zeta = Math.atan2(rho, z);
        if (zeta > p.zetaMax) return undefined;
        const r = R2D * polyEval(p.zpn, zeta);
        // At the native pole phi is undefined; wcslib takes phi = 0 there.
        if (rho === 0) return [0, -r];
        return [(r * a) / rho, (-r * b) / rho];
      }
    }
  }

  /** Projection-plane (x, y) in degrees -> native unit vector, or undefined off the projection. */
  #deproject(x: number, y: number): Native | undefined {
    const p = this.#p;
    switch (p.projection) {
      case "TAN": {
        const norm = Math.hypot(R2D, x, y);
        return [x / norm, -y / norm, R2D / norm];
      }
      case "SIN":
      case "NCP": {
        // With t = 1 - sin(theta): (1 + xi^2 + eta^2) t^2 - 2 (1 + X xi + Y eta) t + X^2 + Y^2 = 0; the smaller
        // root is the visible side. Written as C / (B + sqrt(B^2 - AC)) to stay exact near t = 0.
        const X = x * D2R;
        const Y = y * D2R;
        const A = 1 + p.xi * p.xi + p.eta * p.eta;
        const B = 1 + X * p.xi + Y * p.eta;
        const C = X * X + Y * Y;
        const disc = B * B - A * C;
        if (disc < 0) {
          if (disc < -1e-13) return undefined;
        }
        const den = B + Math.sqrt(Math.max(disc, 0));
        if (!(den > 0)) return C === 0 ? [0, 0, 1] : undefined;
        const t = C / den;
        if (t > 1 + 1e-13) return undefined;
        return [X - p.xi * t, p.eta * t - Y, 1 - t];
      }
      case "ZPN": {
        const r = Math.hypot(x, y);
        const zeta = zpnInverse(p, r * D2R);
        if (Number.isNaN(zeta)) return undefined;
        const sz = Math.sin(zeta);
        if (r === 0) return [0, 0, Math.cos(zeta)];
        return [(sz * x) / r, (-sz * y) / r, Math.cos(zeta)];
      }
    }
  }
}

/**
 * Pixel offsets (u, v) whose SIP-distorted image is (U, V): Newton's method on u + A(u, v) = U, v + B(u, v) = V,
 * started from AP/BP when present. Converges to ~1e-12 px; undefined if it diverges.
 */
function sipInverse(p: Parsed, U: number, V: number): [number, number] | undefined {
  const A = p.sipA as Poly;
  const B = p.sipB as Poly;
  let u = U;
  let v = V;
  if (p.sipAp !== undefined && p.sipBp !== undefined) {
    u = U + sipEval(p.sipAp, U, V);
    v = V + sipEval(p.sipBp, U, V);
  }
  for (let i = 0; i < 50; i++) {
    const fu = u + sipEval(A, u, v) - U;
    const fv = v + sipEval(B, u, v) - V;
    const [au, av] = sipGrad(A, u, v);
    const [bu, bv] = sipGrad(B, u, v);
    const j11 = 1 + au;
    const j12 = av;
    const j21 = bu;
    const j22 = 1 + bv;
    const det = j11 * j22 - j12 * j21;
    if (!Number.isFinite(det) || det === 0) return undefined;
    const du = (j22 * fu - j12 * fv) / det;
    const dv = (-j21 * fu + j11 * fv) / det;
    u -= du;
    v -= dv;
    if (Math.abs(du) + Math.abs(dv) <= 1e-13 * Math.max(1, Math.abs(u) + Math.abs(v))) return [u, v];
  }
  return Number.isFinite(u) && Number.isFinite(v) ? [u, v] : undefined;
}
