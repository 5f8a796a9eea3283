/**
 * Spatial MOCs (IVOA Multi-Order Coverage maps, MOC 1.x and 2.0): a set of NESTED HEALPix cells of mixed
 * orders, held as sorted, disjoint half-open ranges of cells at order MOC_RANGE_ORDER (24, where every
 * index is an exact double). Pure: the FITS table is decoded by the caller, which passes the keywords and
 * the values of the table's one column here.
 *
 * Serialisations read (MOC 2.0, sec. 4.3; MOC 1.x, sec. 3.2):
 * - NUNIQ: one value per cell, uniq = 4 * 4^order + ipix (order 0..29);
 * - RANGE (and RANGE29): consecutive pairs [start, end) of cell indices at order 29.
 * Cells finer than order 24 are widened to the order-24 cells that contain them: membership and overlap
 * answers are then supersets (a point within one order-24 cell, 13 mas, of such a MOC counts as inside).
 */

import { ang2pixNest } from "./ang2pix.js";
import { queryDiscInclusive } from "./query-disc.js";
import { FACE_CELLS } from "./tables.js";
import { assertRaDec } from "./validate.js";

/** Order of the range bounds (indices < 12 * 4^24 < 2^53). */
export const MOC_RANGE_ORDER = 24;

/** A spatial MOC as ranges of order-24 cells. */
export interface Moc {
  /** Deepest order of the MOC (MOCORD_S / MOCORDER), 0..29. */
  readonly maxOrder: number;
  /** COORDSYS: "C" (ICRS, the standard's only frame) or "G" (galactic, written by Hipsgen for galactic HiPS). */
  readonly frame: "equatorial" | "galactic";
  /** Range starts (inclusive), sorted. */
  readonly starts: Float64Array;
  /** Range ends (exclusive); ranges are disjoint and not adjacent. */
  readonly ends: Float64Array;
}

/** What the caller read from the MOC's FITS table. */
export interface MocTable {
  /** ORDERING keyword: NUNIQ, RANGE or RANGE29. */
  readonly ordering: string;
  /** MOCORD_S (2.0) or MOCORDER (1.x); undefined if absent (then taken from the cells). */
  readonly maxOrder?: number;
  /** COORDSYS keyword (absent = C). */
  readonly coordsys?: string;
  /** The values of the table's column in row order (J or K: numbers or bigints). */
  readonly values: ReadonlyArray<number | bigint>;
}

/** A malformed MOC: the message says what is wrong, for the caller to wrap. */
export class MocError extends Error {
  override readonly name = "MocError";
}

const SHIFT_29_TO_24 = 10n;

function big(v: number | bigint, what: string): bigint {
  if (typeof v === "bigint") return v;
  if (!Number.isSafeInteger(v)) throw new MocError(`${what}: ${String(v)} is not an integer`);
  return BigInt(v);
}

/** Merge unsorted [start, end) pairs into sorted, disjoint, non-adjacent ranges. */
function normalise(pairs: number[][], maxOrder: number, frame: Moc["frame"]): Moc {
  pairs.sort((a, b) => (a[0] as number) - (b[0] as number));
  const s: number[] = [];
  const e: number[] = [];
  for (const [a, b] of pairs as Array<[number, number]>) {
    if (b <= a) continue;
    const last = e.length - 1;
    if (last >= 0 && a <= (e[last] as number)) e[last] = Math.max(e[last] as number, b);
    else {
      s.push(a);
      e.push(b);
    }
  }
  return { maxOrder, frame, starts: Float64Array.from(s), ends: Float64Array.from(e) };
}

function frameOf(coordsys: string | undefined): Moc["frame"] {
  const c = (coordsys ?? "C").trim().toUpperCase();
  if (c === "C" || c === "") return "equatorial";
  if (c === "G") return "galactic";
  throw new MocError(`COORDSYS ${JSON.stringify(coordsys)}: expected C (ICRS) or G (galactic)`);
}

const NPIX_24 = 12 * (FACE_CELLS[MOC_RANGE_ORDER] as number);
const NPIX_29 = 12n << 58n;

/**
 * A MOC from its FITS table's keywords and column values. Throws MocError for an unknown ORDERING or
 * COORDSYS, a NUNIQ value that is no cell (< 4, or an index beyond its order), an odd number of RANGE values,
 * a range outside [0, 12 * 4^29) or with end < start.
 */
export function mocFromTable(t: MocTable): Moc {
  const ordering = t.ordering.trim().toUpperCase();
  const frame = frameOf(t.coordsys);
  if (t.maxOrder !== undefined && !(Number.isInteger(t.maxOrder) && t.maxOrder >= 0 && t.maxOrder <= 29))
    throw new MocError(`MOCORDER ${String(t.maxOrder)}: expected 0..29`);
  const pairs: number[][] = [];
  let deepest = 0;
  if (ordering === "NUNIQ") {
    for (const v of t.values) {
      const uniq = big(v, "NUNIQ value");
      if (uniq < 4n) throw new MocError(`NUNIQ value ${uniq}: not a cell (must be >= 4)`);
      // uniq = 4 * 4^order + ipix with ipix < 12 * 4^order: the order is floor(log4(uniq / 4)).
      const order = Math.floor((uniq.toString(2).length - 3) / 2);
      const ipix = uniq - (4n << BigInt(2 * order));
      if (order > 29 || ipix >= 12n << BigInt(2 * order))
        throw new MocError(`NUNIQ value ${uniq}: not a cell of order 0..29`);
      deepest = Math.max(deepest, order);
      if (order <= MOC_RANGE_ORDER) {
        const span = FACE_CELLS[MOC_RANGE_ORDER - order] as number;
        const first = Number(ipix) * span;
        pairs.push([first, first + span]);
      } else {
        const shift = BigInt(2 * (order - MOC_RANGE_ORDER));
        pairs.push([Number(ipix >> shift), Number(ipix >> shift) + 1]);
      }
    }
  } else if (ordering === "RANGE" || ordering === "RANGE29") {
    if (t.values.length % 2 !== 0)
      throw new MocError(`RANGE: ${t.values.length} values, expected [start, end) pairs`);
    for (let i = 0; i < t.values.length; i += 2) {
      const a = big(t.values[i] as number | bigint, "RANGE value");
      const b = big(t.values[i + 1] as number | bigint, "RANGE value");
      if (a < 0n || b > NPIX_29 || b < a)
        throw new MocError(`RANGE [${a}, ${b}): not a range of order-29 cells`);
      // Widen to whole order-24 cells: start rounds down, end rounds up.
      const lo = Number(a >> SHIFT_29_TO_24);
      const hi = Number((b + (1n << SHIFT_29_TO_24) - 1n) >> SHIFT_29_TO_24);
      pairs.push([lo, hi]);
    }
    deepest = 29;
  } else {
    throw new MocError(`ORDERING ${JSON.stringify(t.ordering)}: expected NUNIQ or RANGE`);
  }
  return normalise(pairs, t.maxOrder ?? deepest, frame);
}

/** A MOC of the given NESTED cells at one order 0..24 (tests, and MOCs built in code). */
export function mocFromCells(
  order: number,
  cells: Iterable<number>,
  frame: Moc["frame"] = "equatorial",
): Moc {
  const span = FACE_CELLS[MOC_RANGE_ORDER - order] as number;
  const pairs: number[][] = [];
  for (const c of cells) pairs.push([c * span, (c + 1) * span]);
  return normalise(pairs, order, frame);
}

/** Index of the last range whose start is <= cell, or -1. */
function rangeAtOrBefore(moc: Moc, cell: number): number {
  let lo = 0;
  let hi = moc.starts.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if ((moc.starts[mid] as number) <= cell) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** Whether any cell of the half-open order-24 range [a, b) is in the MOC. */
export function mocOverlapsRange(moc: Moc, a: number, b: number): boolean {
  const i = rangeAtOrBefore(moc, b - 1);
  return i >= 0 && (moc.ends[i] as number) > a;
}

/** Whether the point (lonDeg, latDeg), in the MOC's own frame, lies in a cell of the MOC. */
export function mocContains(moc: Moc, lonDeg: number, latDeg: number): boolean {
  const cell = ang2pixNest(MOC_RANGE_ORDER, lonDeg, latDeg);
  return mocOverlapsRange(moc, cell, cell + 1);
}

/** Fraction of the sky the MOC covers (0..1). */
export function mocSkyFraction(moc: Moc): number {
  let n = 0;
  for (let i = 0; i < moc.starts.length; i++) n += (moc.ends[i] as number) - (moc.starts[i] as number);
  return n / NPIX_24;
}

/**
 * Whether the disc of radiusDeg around (lonDeg, latDeg) (the MOC's frame) may touch the MOC. Never false
 * when the disc touches it: the disc is covered by cells (queryDiscInclusive, a superset) at an order about
 * four cells per radius, no deeper than the MOC, and each cell is tested against the ranges. Near the
 * MOC's edge it may answer true for a disc that misses by less than 2.5 of those cells (the padding of
 * queryDiscInclusive); fixtures/moc/make_mocs.py checks both answers against healpy.
 */
export function mocIntersectsDisc(moc: Moc, lonDeg: number, latDeg: number, radiusDeg: number): boolean {
  assertRaDec(lonDeg, latDeg);
  if (moc.starts.length === 0) return false;
  // A disc whose centre is in the MOC meets it: one cell lookup instead of a disc query, which is what
  // almost every stamp of a job inside its survey costs (the query was 11% of a local HiPS job's CPU).
  if (mocContains(moc, lonDeg, latDeg)) return true;
  const radiusRad = (radiusDeg * Math.PI) / 180;
  // Mean cell size sqrt(pi/3) / 2^order <= radius / 2 gives 10-30 cells per disc.
  const wanted = Math.ceil(Math.log2(Math.sqrt(Math.PI / 3) / Math.max(radiusRad / 2, 1e-12)));
  const order = Math.max(0, Math.min(wanted, moc.maxOrder, MOC_RANGE_ORDER));
  const span = FACE_CELLS[MOC_RANGE_ORDER - order] as number;
  for (const c of queryDiscInclusive(order, lonDeg, latDeg, radiusDeg)) {
    if (mocOverlapsRange(moc, c * span, (c + 1) * span)) return true;
  }
  return false;
}
