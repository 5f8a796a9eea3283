/**
 * NESTED cell -> centre position. From (face, x, y):
 *   ring index (1 .. 4*nside-1, counted from the north pole)  jr = JRLL[face]*nside - x - y - 1,
 *   in the polar caps ring jr (or 4*nside - jr in the south) has nr = jr cells per 90 degrees and
 *     1 - |z| = nr^2 / (3 nside^2);
 *   in the equatorial belt nr = nside and z = (2 nside - jr) * 2 / (3 nside);
 *   the longitude is phi = (pi/4) * (JPLL[face]*nr + x - y) / nr  (mod 2 pi), i.e. in degrees 45 * (...) / nr.
 * JRLL / JPLL are the ring index (in units of nside) of each face's southern corner and the longitude of each
 * face's centre in units of 45 degrees.
 */

import { decodeNest, XYF } from "./nested.js";
import { NSIDE } from "./tables.js";
import { assertOrder, assertPixel } from "./validate.js";

const JRLL = [2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4] as const;
const JPLL = [1, 3, 5, 7, 0, 2, 4, 6, 1, 3, 5, 7] as const;
const RAD2DEG = 180 / Math.PI;

/** Scratch output of centreOf: [z = sin(dec), sin(colatitude) = cos(dec), longitude in degrees]. */
export const CENTRE = new Float64Array(3);

/** Centre of cell (face, x, y) at `order` into CENTRE (no checks). */
export function centreOf(order: number, face: number, x: number, y: number): void {
  const nside = NSIDE[order] as number;
  const jr = (JRLL[face] as number) * nside - x - y - 1;
  let nr: number;
  let z: number;
  let sth: number;
  if (jr < nside || jr > 3 * nside) {
    // Polar cap: with q = nr / nside (exact), 1 - |z| = q^2 / 3 and sin(theta) = sqrt(t (2 - t)), t = 1 - |z|.
    nr = jr < nside ? jr : 4 * nside - jr;
    const q = nr / nside;
    const t = (q * q) / 3;
    z = jr < nside ? 1 - t : t - 1;
    sth = Math.sqrt(t * (2 - t));
  } else {
    nr = nside;
    z = (2 * (2 * nside - jr)) / (3 * nside);
    sth = Math.sqrt((1 - z) * (1 + z));
  }
  let k = (JPLL[face] as number) * nr + x - y; // longitude in units of 45/nr degrees (< 2^32: exact)
  if (k < 0) k += 8 * nr;
  CENTRE[0] = z;
  CENTRE[1] = sth;
  CENTRE[2] = (45 * k) / nr;
}

/**
 * Centre of a NESTED cell at order 0..29 in degrees: raDeg in [0, 360), decDeg in [-90, 90]; ipix a number
 * (safe integer) or bigint. TypeError naming order/ipix on bad input.
 */
export function pix2angNest(order: number, ipix: number | bigint): { raDeg: number; decDeg: number } {
  assertOrder(order);
  assertPixel(order, ipix);
  decodeNest(order, ipix);
  centreOf(order, XYF[0] as number, XYF[1] as number, XYF[2] as number);
  return {
    raDeg: CENTRE[2] as number,
    decDeg: Math.atan2(CENTRE[0] as number, CENTRE[1] as number) * RAD2DEG,
  };
}
