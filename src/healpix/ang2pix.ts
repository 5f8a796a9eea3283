/**
 * Position -> NESTED cell. The floating-point steps deliberately follow the reference HEALPix C++ library
 * (as used by healpy with lonlat=True) operation by operation, so that points lying exactly on cell
 * boundaries land in the same cell as in healpy:
 *   theta = pi/2 - decDeg * (pi/180),  phi = raDeg * (pi/180),  z = cos(theta),
 *   tt = (phi * 2/pi) mod 4   (longitude in units of 90 degrees, in [0, 4)).
 * Equatorial belt (|z| <= 2/3): the two families of cell edges are the lines
 *   jp = nside*(0.5 + tt) - 0.75*nside*z  (ascending) and  jm = nside*(0.5 + tt) + 0.75*nside*z  (descending);
 * the integer parts of jp and jm locate the cell, and jp/nside, jm/nside (0..4) locate the base face.
 * Polar caps (|z| > 2/3): within the 90-degree sector ntt = floor(tt) the edge coordinates are
 *   tp * t and (1 - tp) * t  with tp = tt - ntt and t = nside * sqrt(3 * (1 - |z|)),
 * where near the poles sqrt(3 (1 - |z|)) is evaluated as sin(theta) / sqrt((1 + |z|) / 3) to avoid cancellation.
 */

import { encodeNest, encodeNestBig } from "./nested.js";
import { NSIDE } from "./tables.js";
import { assertOrder, assertRaDec, MAX_NUMBER_ORDER, MAX_ORDER } from "./validate.js";

const HALF_PI = Math.PI / 2;
const DEG2RAD = Math.PI / 180; // same constant as numpy.radians
const INV_HALF_PI = 2 / Math.PI; // 0.6366197723675814, also the correctly rounded 2/pi
const TWO_THIRDS = 2 / 3;
/** Above this colatitude distance from a pole the cap formula uses sin(theta) (reference library threshold). */
const STH_LOW = 0.01;
const STH_HIGH = 3.13159; // the reference library's `3.14159 - 0.01` (the same double), not pi - 0.01

// Scratch results of locate() [face, x, y, continuous x, continuous y]: a typed array, so that storing the
// doubles allocates nothing (module-level `let`s would box every double in a heap number).
const LOC = new Float64Array(5);

/** (phi * 2/pi) reduced to [0, 4), the same way as the reference library's fmodulo. */
function reduceTt(v: number): number {
  if (v >= 0) return v < 4 ? v : v % 4;
  const t = (v % 4) + 4;
  return t === 4 ? 0 : t;
}

/**
 * Largest double strictly below the integer m (1 <= m <= 2^29), computed as m * (1 - 2^-52): the product is
 * at least one spacing below m and rounds to the neighbour below m (or lower), never to m itself.
 */
function justBelow(m: number): number {
  return m * (1 - 2 ** -52);
}

/** Clamp a continuous coordinate into [i, i + 1) so that its integer part is exactly i. */
function clampInto(v: number, i: number): number {
  if (v < i) return i;
  if (v >= i + 1) return justBelow(i + 1);
  return v;
}

/**
 * Locate (raDeg, decDeg) at `order` (checked by the caller) into LOC = [face, x, y]; with frac = true also
 * LOC[3], LOC[4] = the continuous x, y (Math.floor(LOC[3]) === LOC[1], Math.floor(LOC[4]) === LOC[2]).
 */
function locate(order: number, raDeg: number, decDeg: number, frac: boolean): void {
  const nside = NSIDE[order] as number;
  const theta = HALF_PI - decDeg * DEG2RAD;
  const z = Math.cos(theta);
  const za = Math.abs(z);
  const tt = reduceTt(raDeg * DEG2RAD * INV_HALF_PI);
  let face: number;
  let ix: number;
  let iy: number;
  let fx = 0;
  let fy = 0;
  if (za <= TWO_THIRDS) {
    const temp1 = nside * (0.5 + tt);
    const temp2 = nside * (z * 0.75);
    const fp = temp1 - temp2; // ascending edge coordinate, >= 0 here
    const fm = temp1 + temp2; // descending edge coordinate, >= 0 here
    const jp = Math.floor(fp);
    const jm = Math.floor(fm);
    // jp >> order and jm >> order (division by a power of two is exact; values may exceed 2^31).
    const ifp = Math.floor(jp / nside);
    const ifm = Math.floor(jm / nside);
    // Same band index on both families: an equatorial face (4..7; ifp = 4 wraps to face 4 via |4).
    // Otherwise the descending line is further along for northern faces, the ascending one for southern.
    face = ifp === ifm ? ifp | 4 : ifp < ifm ? ifp : ifm + 8;
    ix = jm - ifm * nside; // jm & (nside - 1)
    iy = nside - (jp - ifp * nside) - 1; // y runs against the ascending family
    if (frac) {
      fx = fm - ifm * nside; // exact subtraction, so Math.floor(fx) === ix already
      fy = clampInto(nside - (fp - ifp * nside), iy);
    }
  } else {
    let ntt = Math.floor(tt);
    if (ntt > 3) ntt = 3;
    const tp = tt - ntt;
    const haveSth = theta < STH_LOW || theta > STH_HIGH;
    const tmp =
      za < 0.99 || !haveSth
        ? nside * Math.sqrt(3 * (1 - za))
        : (nside * Math.sin(theta)) / Math.sqrt((1 + za) / 3);
    const fp = tp * tmp;
    const fm = (1 - tp) * tmp;
    let jp = Math.floor(fp);
    let jm = Math.floor(fm);
    if (jp > nside - 1) jp = nside - 1; // points on the cap boundary itself
    if (jm > nside - 1) jm = nside - 1;
    if (z >= 0) {
      face = ntt;
      ix = nside - jm - 1;
      iy = nside - jp - 1;
      if (frac) {
        fx = clampInto(nside - fm, ix);
        fy = clampInto(nside - fp, iy);
      }
    } else {
      face = ntt + 8;
      ix = jp;
      iy = jm;
      if (frac) {
        fx = clampInto(fp, ix);
        fy = clampInto(fm, iy);
      }
    }
  }
  LOC[0] = face;
  LOC[1] = ix;
  LOC[2] = iy;
  LOC[3] = fx;
  LOC[4] = fy;
}

/**
 * NESTED index (number, exact) of the cell containing (raDeg, decDeg) at order 0..24; degrees, RA wraps,
 * decDeg in [-90, 90]. Allocation-free. TypeError naming order/raDeg/decDeg on bad input.
 */
export function ang2pixNest(order: number, raDeg: number, decDeg: number): number {
  if (!(order >= 0 && order <= MAX_NUMBER_ORDER) || Math.floor(order) !== order) {
    assertOrder(order, MAX_NUMBER_ORDER);
  }
  if (!(decDeg >= -90 && decDeg <= 90 && raDeg - raDeg === 0)) assertRaDec(raDeg, decDeg);
  locate(order, raDeg, decDeg, false);
  return encodeNest(order, LOC[1] as number, LOC[2] as number, LOC[0] as number);
}

/** NESTED index (bigint) of the cell containing (raDeg, decDeg) at order 0..29; degrees; TypeError on bad input. */
export function ang2pixNestBig(order: number, raDeg: number, decDeg: number): bigint {
  assertOrder(order, MAX_ORDER);
  assertRaDec(raDeg, decDeg);
  locate(order, raDeg, decDeg, false);
  return order <= MAX_NUMBER_ORDER
    ? BigInt(encodeNest(order, LOC[1] as number, LOC[2] as number, LOC[0] as number))
    : encodeNestBig(order, LOC[1] as number, LOC[2] as number, LOC[0] as number);
}

/** Continuous face coordinates: see ang2xyfFrac. */
export interface XyfFrac {
  face: number;
  x: number;
  y: number;
}

/**
 * Like ang2xyfFrac but writes into `out` (no allocation); returns `out`. Order 0..29, degrees; TypeError on bad input.
 */
export function ang2xyfFracInto(order: number, raDeg: number, decDeg: number, out: XyfFrac): XyfFrac {
  assertOrder(order, MAX_ORDER);
  assertRaDec(raDeg, decDeg);
  locate(order, raDeg, decDeg, true);
  out.face = LOC[0] as number;
  out.x = LOC[3] as number;
  out.y = LOC[4] as number;
  return out;
}

/**
 * Continuous coordinates of (raDeg, decDeg) on its base face at order 0..29 (degrees in; x, y in [0, 2^order)).
 * Convention: x, y are the face coordinates in cell units, with (0, 0) the southern corner of the face, x towards
 * north-east, y towards north-west; cell (ix, iy) covers [ix, ix+1) x [iy, iy+1) and its centre is at
 * (ix + 0.5, iy + 0.5). face, Math.floor(x), Math.floor(y) are exactly the (face, x, y) of ang2pixNest /
 * nestToXyf for the same position (on a cell edge the value is nudged just below the next integer to keep this
 * true). In the equatorial belt x and y are affine in (z, phi); in the polar caps they are nside - (or, in the
 * south, plain) products of sqrt(3 (1 - |z|)) with the fraction of the 90-degree longitude sector (or its complement).
 * TypeError naming order/raDeg/decDeg on bad input.
 */
export function ang2xyfFrac(order: number, raDeg: number, decDeg: number): XyfFrac {
  return ang2xyfFracInto(order, raDeg, decDeg, { face: 0, x: 0, y: 0 });
}
