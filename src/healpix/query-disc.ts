/**
 * Cells that may intersect a disc, by a depth-first walk of the NESTED quadtree from the 12 base cells.
 *
 * Every cell of order o lies within R(o) of its centre, where R(o) = 1.06 * cellSizeRad(o) bounds the largest
 * centre-to-boundary distance (measured with healpy: max_pixrad / cellSize rises from 0.82 at order 0 towards
 * ~1.045 for large orders). A target cell T (order t) is returned when
 *   dist(centre(T), disc centre) <= radius + R(t) + R(t + 2),
 * i.e. whenever T itself may touch the disc, plus the cells healpy's query_disc(inclusive=True, fact=4) adds
 * (it tests sub-cells of order t + 2 against radius + max_pixrad(t + 2)), so the result is a superset of both.
 * A coarser cell C (order o < t) is explored only if its centre is within radius + R(t) + R(t + 2) + R(o), and all
 * its descendants are returned at once when its centre is within radius + R(t) + R(t + 2) - R(o).
 * Distances are compared as squared chord lengths (|a - b|^2 = (2 sin(angle/2))^2), which keep their precision
 * for the sub-milliarcsecond cells of high orders where cosines of angles would round to 1.
 */

import { cellSizeRadUnchecked } from "./cell-size.js";
import { encodeNest, encodeNestBig, SHIFT_BIG } from "./nested.js";
import { CENTRE, centreOf } from "./pix2ang.js";
import { FACE_CELLS } from "./tables.js";
import { assertOrder, assertRaDec, MAX_NUMBER_ORDER, MAX_ORDER } from "./validate.js";

const DEG2RAD = Math.PI / 180;
/** Safety factor on the mean cell size that bounds the centre-to-boundary distance of every cell. */
export const PIXRAD_FACTOR = 1.06;

/** Upper bound (radians) on the distance from any cell centre to any point of that cell at `order` (any order >= 0). */
export function maxCellRadiusRad(order: number): number {
  return PIXRAD_FACTOR * cellSizeRadUnchecked(order);
}

/** Squared chord length of an angle (radians): -1 when negative (nothing qualifies), Infinity when >= pi. */
function chord2(angle: number): number {
  if (angle < 0) return -1;
  if (angle >= Math.PI) return Number.POSITIVE_INFINITY;
  const s = 2 * Math.sin(angle / 2);
  return s * s;
}

type Emit = (order: number, face: number, x: number, y: number) => void;

function walk(order: number, raDeg: number, decDeg: number, radiusDeg: number, emit: Emit): void {
  const ra = raDeg * DEG2RAD;
  const dec = decDeg * DEG2RAD;
  const cx = Math.cos(dec) * Math.cos(ra);
  const cy = Math.cos(dec) * Math.sin(ra);
  const cz = Math.sin(dec);
  const r = radiusDeg * DEG2RAD;
  const pad = maxCellRadiusRad(order) + maxCellRadiusRad(order + 2);
  const explore: number[] = [];
  const whole: number[] = [];
  for (let o = 0; o <= order; o++) {
    const ro = maxCellRadiusRad(o);
    explore.push(chord2(o === order ? r + pad : r + pad + ro));
    whole.push(o === order ? -1 : chord2(r + pad - ro));
  }
  const visit = (o: number, face: number, x: number, y: number): void => {
    centreOf(o, face, x, y);
    const z = CENTRE[0] as number;
    const sth = CENTRE[1] as number;
    const phi = (CENTRE[2] as number) * DEG2RAD;
    const dx = sth * Math.cos(phi) - cx;
    const dy = sth * Math.sin(phi) - cy;
    const dz = z - cz;
    const d2 = dx * dx + dy * dy + dz * dz;
    if (!(d2 <= (explore[o] as number))) return;
    if (o === order || d2 <= (whole[o] as number)) {
      emit(o, face, x, y);
      return;
    }
    // Children in NESTED order 4N + (dy << 1 | dx): the output comes out sorted.
    const x2 = 2 * x;
    const y2 = 2 * y;
    visit(o + 1, face, x2, y2);
    visit(o + 1, face, x2 + 1, y2);
    visit(o + 1, face, x2, y2 + 1);
    visit(o + 1, face, x2 + 1, y2 + 1);
  };
  for (let face = 0; face < 12; face++) visit(0, face, 0, 0);
}

function assertDisc(raDeg: number, decDeg: number, radiusDeg: number): void {
  assertRaDec(raDeg, decDeg);
  if (!(radiusDeg >= 0) || !Number.isFinite(radiusDeg)) {
    throw new TypeError(`radiusDeg must be a finite number of degrees >= 0, got ${String(radiusDeg)}`);
  }
}

/**
 * Sorted NESTED indices (numbers) at order 0..24 of every cell that may intersect the disc of radiusDeg around
 * (raDeg, decDeg) (degrees): a superset that never misses a cell, and contains healpy's
 * query_disc(inclusive=True, nest=True). TypeError naming order/raDeg/decDeg/radiusDeg on bad input.
 */
export function queryDiscInclusive(
  order: number,
  raDeg: number,
  decDeg: number,
  radiusDeg: number,
): number[] {
  assertOrder(order, MAX_NUMBER_ORDER);
  assertDisc(raDeg, decDeg, radiusDeg);
  const out: number[] = [];
  walk(order, raDeg, decDeg, radiusDeg, (o, face, x, y) => {
    // All descendants at `order` of cell N (order o): the contiguous range [N * 4^d, (N + 1) * 4^d), d = order - o.
    const span = FACE_CELLS[order - o] as number;
    const first = encodeNest(o, x, y, face) * span;
    for (let i = 0; i < span; i++) out.push(first + i);
  });
  return out;
}

/** Same as queryDiscInclusive for any order 0..29, as sorted bigints. TypeError on bad input. */
export function queryDiscInclusiveBig(
  order: number,
  raDeg: number,
  decDeg: number,
  radiusDeg: number,
): bigint[] {
  assertOrder(order, MAX_ORDER);
  assertDisc(raDeg, decDeg, radiusDeg);
  const out: bigint[] = [];
  walk(order, raDeg, decDeg, radiusDeg, (o, face, x, y) => {
    const shift = SHIFT_BIG[order - o] as bigint;
    const first = encodeNestBig(o, x, y, face) << shift;
    const span = 1n << shift;
    for (let i = 0n; i < span; i++) out.push(first + i);
  });
  return out;
}
