import { parseVotable, VotableError, type VotableField } from "../../votable/votable.js";
import { edgeMarginPx } from "../../wcs/pixel-grid.js";
import { type CelestialWcs, gnomonic, tanWcs, WcsError } from "../../wcs/wcs.js";

/**
 * Simple Image Access queries and their answers: SIA 1.0 (`POS=ra,dec&SIZE=deg&FORMAT=image/fits`, columns
 * found by UCD) and SIA 2.0 (`POS=CIRCLE ra dec r`, `BAND=lo hi` in metres, `COLLECTION`, `MAXREC`; ObsCore
 * columns). Each answer row becomes a candidate image with the band it belongs to and how far the target
 * sits inside it (its margin), so the best image per band can be chosen before anything is downloaded.
 */

/** A band of a SIA job: a label, matched by bandpass id (`--bands`) or by a wavelength window in metres (`--band label=lo:hi`). */
export interface SiaBand {
  readonly label: string;
  readonly loM?: number;
  readonly hiM?: number;
}

/** One image a SIA service offered. */
export interface Candidate {
  /** 0-based row in the answer (service order; `--pick first`). */
  readonly index: number;
  readonly url: string;
  readonly format: string;
  /** Band labels this image serves. */
  readonly bands: readonly string[];
  /** Distance from the target to the image's edge, degrees; negative when outside, NaN when unknown. */
  readonly marginDeg: number;
  readonly title: string;
  /** ObsCore obs_publisher_did (SIA 2), for messages and provenance. */
  readonly did: string;
}

/** `12.345678` with enough digits for a milliarcsecond, no exponent. */
function deg(x: number): string {
  return Number(x.toFixed(8)).toString();
}

/** The SIA 1 query URL for a position and a box of `sizeDeg` a side. */
export function sia1Url(base: string, raDeg: number, decDeg: number, sizeDeg: number): string {
  const u = new URL(base);
  u.searchParams.set("POS", `${deg(raDeg)},${deg(decDeg)}`);
  u.searchParams.set("SIZE", deg(sizeDeg));
  u.searchParams.set("FORMAT", "image/fits");
  return u.href;
}

/** The SIA 2 query URL: a circle around the target, one BAND per band with a window, COLLECTION, MAXREC. */
export function sia2Url(
  base: string,
  raDeg: number,
  decDeg: number,
  radiusDeg: number,
  bands: readonly SiaBand[],
  options: { collection?: string; maxrec?: number },
): string {
  const u = new URL(base);
  u.searchParams.append("POS", `CIRCLE ${deg(raDeg)} ${deg(decDeg)} ${deg(radiusDeg)}`);
  for (const b of bands) {
    if (b.loM !== undefined && b.hiM !== undefined) u.searchParams.append("BAND", `${b.loM} ${b.hiM}`);
  }
  if (options.collection !== undefined) u.searchParams.append("COLLECTION", options.collection);
  if (options.maxrec !== undefined) u.searchParams.append("MAXREC", String(options.maxrec));
  return u.href;
}

/**
 * Why an answer must not be kept (the shared fetcher caches what passes): the service's QUERY_STATUS=ERROR
 * message, or a document that does not end with </VOTABLE> (cut short). Undefined when it may be kept.
 */
export function queryError(body: Buffer): string | undefined {
  const text = body.toString("utf8");
  if (!/<\/(?:[\w-]+:)?VOTABLE>\s*$/i.test(text.slice(-256))) {
    return "the answer is not a complete VOTable (it does not end with </VOTABLE>)";
  }
  const m =
    /<INFO\b[^>]*\bname\s*=\s*["']QUERY_STATUS["'][^>]*\bvalue\s*=\s*["']ERROR["'][^>]*?(?:\/>|>([\s\S]*?)<\/INFO>)/i.exec(
      text,
    ) ??
    /<INFO\b[^>]*\bvalue\s*=\s*["']ERROR["'][^>]*\bname\s*=\s*["']QUERY_STATUS["'][^>]*?(?:\/>|>([\s\S]*?)<\/INFO>)/i.exec(
      text,
    );
  if (m === null) return undefined;
  const msg = (m[1] ?? "").replace(/\s+/g, " ").trim();
  return `the service reported QUERY_STATUS=ERROR: ${msg.slice(0, 300) || "(no message)"}`;
}

const D2R = Math.PI / 180;

/** Angular distance, degrees. */
function sepDeg(ra1: number, dec1: number, ra2: number, dec2: number): number {
  const s =
    Math.sin(((dec2 - dec1) * D2R) / 2) ** 2 +
    Math.cos(dec1 * D2R) * Math.cos(dec2 * D2R) * Math.sin(((ra2 - ra1) * D2R) / 2) ** 2;
  return (2 * Math.asin(Math.min(1, Math.sqrt(s)))) / D2R;
}

/**
 * Margin of a point inside a sky polygon (ObsCore s_region "POLYGON [frame] ra1 dec1 ra2 dec2 ..."),
 * degrees: the distance to the nearest edge on the tangent plane at the point, negative outside; NaN
 * when the region is not a polygon this reads.
 */
export function polygonMarginDeg(region: string, raDeg: number, decDeg: number): number {
  const m = /^\s*POLYGON\s+(?:[A-Za-z_]+\s+)?([-+0-9.eE\s]+)$/i.exec(region);
  if (m === null) return Number.NaN;
  const v = (m[1] as string).trim().split(/\s+/).map(Number);
  if (v.length < 6 || v.length % 2 !== 0 || v.some((x) => !Number.isFinite(x))) return Number.NaN;
  // On the tangent plane at the target, the target is the origin. A vertex 90 degrees or more away cannot be
  // projected: the margin is then unknown (NaN) rather than computed from a meaningless point.
  const project = gnomonic(raDeg, decDeg);
  const pts: Array<[number, number]> = [];
  for (let i = 0; i < v.length; i += 2) pts.push(project(v[i] as number, v[i + 1] as number));
  if (pts.some(([x, y]) => Number.isNaN(x) || Number.isNaN(y))) return Number.NaN;
  let inside = false;
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
    const [xi, yi] = pts[i] as [number, number];
    const [xj, yj] = pts[j] as [number, number];
    if (yi > 0 !== yj > 0 && 0 < ((xj - xi) * (0 - yi)) / (yj - yi) + xi) inside = !inside;
    // Distance from the origin (the target) to segment i-j.
    const dx = xj - xi;
    const dy = yj - yi;
    const len2 = dx * dx + dy * dy;
    const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, (-xi * dx - yi * dy) / len2));
    best = Math.min(best, Math.hypot(xi + t * dx, yi + t * dy));
  }
  return inside ? best : -best;
}

function num(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "string" && v.trim() !== "") return Number(v);
  return Number.NaN;
}

function nums(v: unknown): number[] {
  if (Array.isArray(v)) return v.map(num);
  if (typeof v === "string")
    return v
      .trim()
      .split(/[\s,]+/)
      .map(Number);
  return [num(v)];
}

function text(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (Array.isArray(v)) return v.map(String).join(" ").trim();
  return String(v).trim();
}

function byUcd(fields: readonly VotableField[], ucd: string): number {
  return fields.findIndex((f) => (f.ucd ?? "").toLowerCase() === ucd.toLowerCase());
}

function byName(fields: readonly VotableField[], name: string): number {
  return fields.findIndex((f) => f.name.toLowerCase() === name);
}

/** Metres per unit of a SIA 1 BandPass_Unit. */
function metresPer(unit: string): number {
  const u = unit.trim().toLowerCase();
  if (u === "" || u === "m" || u.startsWith("meter") || u.startsWith("metre")) return 1;
  if (u === "um" || u.startsWith("micron")) return 1e-6;
  if (u === "nm") return 1e-9;
  if (u === "angstrom" || u === "a" || u === "\u00e5") return 1e-10;
  return Number.NaN;
}

/** Which bands a row serves: by bandpass id, else by its wavelength range overlapping a band's window. */
function bandsOf(bands: readonly SiaBand[], id: string, lo: number, hi: number): string[] {
  if (bands.length === 0) return ["image"];
  return bands
    .filter((b) => {
      if (b.loM === undefined || b.hiM === undefined)
        return id !== "" && id.toLowerCase() === b.label.toLowerCase();
      if (!Number.isFinite(lo) || !Number.isFinite(hi)) return false;
      return Math.min(hi, b.hiM) > Math.max(lo, b.loM);
    })
    .map((b) => b.label);
}

/** A SIA answer that cannot be used: QUERY_STATUS=ERROR, a broken VOTable, required columns missing. */
export class SiaError extends Error {
  readonly code: "SIA_QUERY" | "SIA_RESPONSE";
  constructor(code: "SIA_QUERY" | "SIA_RESPONSE", message: string) {
    super(message);
    this.name = "SiaError";
    this.code = code;
  }
}

/** Read a SIA 1 or SIA 2 answer into candidates for the target. Throws SiaError. */
export async function parseSiaAnswer(
  version: 1 | 2,
  body: Buffer,
  target: { raDeg: number; decDeg: number },
  bands: readonly SiaBand[],
): Promise<Candidate[]> {
  try {
    const table = await parseVotable(body);
    const rows: unknown[][] = [];
    for await (const r of table.rows) rows.push(r.values);
    return version === 1
      ? sia1Candidates(table.fields, rows, target, bands)
      : sia2Candidates(table.fields, rows, target, bands);
  } catch (e) {
    if (e instanceof SiaError) throw e;
    if (e instanceof VotableError) {
      throw new SiaError(e.code === "QUERY_STATUS" ? "SIA_QUERY" : "SIA_RESPONSE", e.message);
    }
    throw e;
  }
}

function sia1Candidates(
  f: readonly VotableField[],
  rows: unknown[][],
  t: { raDeg: number; decDeg: number },
  bands: readonly SiaBand[],
): Candidate[] {
  const cUrl = byUcd(f, "VOX:Image_AccessReference");
  if (cUrl < 0) throw new SiaError("SIA_RESPONSE", "SIA answer without a VOX:Image_AccessReference column");
  const c = {
    format: byUcd(f, "VOX:Image_Format"),
    title: byUcd(f, "VOX:Image_Title"),
    ra: byUcd(f, "POS_EQ_RA_MAIN"),
    dec: byUcd(f, "POS_EQ_DEC_MAIN"),
    naxis: byUcd(f, "VOX:Image_Naxis"),
    scale: byUcd(f, "VOX:Image_Scale"),
    band: byUcd(f, "VOX:BandPass_ID"),
    unit: byUcd(f, "VOX:BandPass_Unit"),
    lo: byUcd(f, "VOX:BandPass_LoLimit"),
    hi: byUcd(f, "VOX:BandPass_HiLimit"),
    crpix: byUcd(f, "VOX:WCS_CoordRefPixel"),
    crval: byUcd(f, "VOX:WCS_CoordRefValue"),
    cd: byUcd(f, "VOX:WCS_CDMatrix"),
  };
  const at = (r: unknown[], i: number): unknown => (i < 0 ? undefined : r[i]);
  return rows.map((r, index) => {
    const perM = metresPer(text(at(r, c.unit)));
    const naxis = nums(at(r, c.naxis));
    const scale = nums(at(r, c.scale)).map(Math.abs);
    let marginDeg = Number.NaN;
    const crpix = nums(at(r, c.crpix));
    const crval = nums(at(r, c.crval));
    const cd = nums(at(r, c.cd));
    const nx = naxis[0] ?? Number.NaN;
    const ny = naxis[1] ?? Number.NaN;
    if (
      crpix.length >= 2 &&
      crval.length >= 2 &&
      cd.length >= 4 &&
      [...crpix, ...crval, ...cd].every(Number.isFinite)
    ) {
      // The image's own WCS (as TAN: close enough to rank margins): pixels from each edge.
      const wcs = rowWcs(crval, crpix, cd);
      if (wcs !== undefined) {
        const p = wcs.worldToPixel(t.raDeg, t.decDeg);
        marginDeg = edgeMarginPx(p.x, p.y, nx, ny) * wcs.pixelScaleDeg;
      }
    } else if (Number.isFinite(nx) && Number.isFinite(ny) && scale.length >= 2) {
      const [x, y] = gnomonic(num(at(r, c.ra)), num(at(r, c.dec)))(t.raDeg, t.decDeg);
      marginDeg = Math.min(
        (nx * (scale[0] as number)) / 2 - Math.abs(x),
        (ny * (scale[1] as number)) / 2 - Math.abs(y),
      );
    }
    return {
      index,
      url: text(r[cUrl]),
      format: text(at(r, c.format)),
      bands: bandsOf(bands, text(at(r, c.band)), num(at(r, c.lo)) * perM, num(at(r, c.hi)) * perM),
      marginDeg,
      title: text(at(r, c.title)),
      did: "",
    };
  });
}

/** The TAN WCS an SIA 1 row gives in columns (1-based CRPIX, CD in degrees per pixel); undefined if unusable. */
function rowWcs(
  crval: readonly number[],
  crpix: readonly number[],
  cd: readonly number[],
): CelestialWcs | undefined {
  const crval2 = crval[1] as number;
  try {
    return tanWcs({
      crval1: crval[0] as number,
      crval2,
      crpix1: crpix[0] as number,
      crpix2: crpix[1] as number,
      cd: [cd[0] as number, cd[1] as number, cd[2] as number, cd[3] as number],
      lonpole: crval2 >= 90 ? 0 : 180,
    });
  } catch (e) {
    if (e instanceof WcsError) return undefined; // a singular matrix or |Dec| > 90: margin unknown
    throw e;
  }
}

function sia2Candidates(
  f: readonly VotableField[],
  rows: unknown[][],
  t: { raDeg: number; decDeg: number },
  bands: readonly SiaBand[],
): Candidate[] {
  const cUrl = byName(f, "access_url");
  if (cUrl < 0) throw new SiaError("SIA_RESPONSE", "SIA 2 answer without an access_url column");
  const c = {
    format: byName(f, "access_format"),
    ra: byName(f, "s_ra"),
    dec: byName(f, "s_dec"),
    fov: byName(f, "s_fov"),
    region: byName(f, "s_region"),
    lo: byName(f, "em_min"),
    hi: byName(f, "em_max"),
    did: byName(f, "obs_publisher_did"),
    title: byName(f, "obs_title"),
    type: byName(f, "dataproduct_type"),
    band: byName(f, "energy_bandpassname"),
  };
  const at = (r: unknown[], i: number): unknown => (i < 0 ? undefined : r[i]);
  const out: Candidate[] = [];
  rows.forEach((r, index) => {
    const type = text(at(r, c.type)).toLowerCase();
    if (type !== "" && type !== "image" && type !== "cube") return;
    let marginDeg = polygonMarginDeg(text(at(r, c.region)), t.raDeg, t.decDeg);
    if (Number.isNaN(marginDeg)) {
      const fov = num(at(r, c.fov));
      const ra = num(at(r, c.ra));
      const dec = num(at(r, c.dec));
      if ([fov, ra, dec].every(Number.isFinite)) marginDeg = fov / 2 - sepDeg(t.raDeg, t.decDeg, ra, dec);
    }
    out.push({
      index,
      url: text(r[cUrl]),
      format: text(at(r, c.format)),
      bands: bandsOf(bands, text(at(r, c.band)), num(at(r, c.lo)), num(at(r, c.hi))),
      marginDeg,
      title: text(at(r, c.title)),
      did: text(at(r, c.did)),
    });
  });
  return out;
}

/** How to choose among the images that serve a band. */
export type Pick = "margin" | "first";

/**
 * The image for a band: among candidates serving it (and containing the target, when their margin is
 * known), the largest margin (`margin`) or the first in the answer (`first`). Undefined: none.
 */
export function pickCandidate(
  candidates: readonly Candidate[],
  band: string,
  pick: Pick,
): Candidate | undefined {
  const serving = candidates.filter((c) => c.bands.includes(band) && c.url !== "" && !(c.marginDeg < 0));
  if (serving.length === 0) return undefined;
  if (pick === "first") return serving[0];
  // Known margins first, largest first; unknown margins after them, in answer order.
  return [...serving].sort((a, b) => {
    const ma = Number.isNaN(a.marginDeg) ? Number.NEGATIVE_INFINITY : a.marginDeg;
    const mb = Number.isNaN(b.marginDeg) ? Number.NEGATIVE_INFINITY : b.marginDeg;
    return mb - ma || a.index - b.index;
  })[0];
}
