/**
 * NESTED index <-> (x, y, face) and the hierarchy (parent / children).
 *
 * A NESTED index at order k (nside = 2^k) is  face * 4^k + morton(x, y), with face in 0..11 and
 * x, y in [0, nside): the top bits name the base face and the low 2k bits interleave x (even bits) and
 * y (odd bits). Dropping the two lowest bits therefore gives the parent cell, and the children of N are
 * 4N .. 4N+3 (child 4N + (dy << 1 | dx) is cell (2x + dx, 2y + dy) one order deeper).
 *
 * Within a face, x grows towards the north-east and y towards the north-west; (0, 0) is the southern
 * corner of the face and (nside-1, nside-1) the northern one.
 */

import { compact32, interleave, interleaveBig } from "./bits.js";
import { cellSizeRadUnchecked } from "./cell-size.js";
import { FACE_CELLS, NSIDE } from "./tables.js";
import { assertIndex, assertOrder, assertPixel, MAX_NUMBER_ORDER, MAX_ORDER } from "./validate.js";

const TWO32 = 4294967296;

/** BigInt(2 * order), precomputed so that the bigint paths do not convert on every call. */
export const SHIFT_BIG: readonly bigint[] = Array.from({ length: MAX_ORDER + 1 }, (_, o) => BigInt(2 * o));

/**
 * Scratch output of decodeNest (face, x, y): module-level so that hot paths allocate nothing.
 * Read it immediately after the call; any later HEALPix call may overwrite it.
 */
export const XYF = new Int32Array(3);

/** Decode a valid NESTED index into XYF = [face, x, y] (no argument checks). */
export function decodeNest(order: number, ipix: number | bigint): void {
  let face: number;
  let hi: number;
  let lo: number;
  if (typeof ipix === "bigint") {
    const shift = SHIFT_BIG[order] as bigint;
    face = Number(ipix >> shift);
    const w = ipix - (BigInt(face) << shift); // index inside the face, < 4^29 = 2^58
    lo = Number(w & 0xffffffffn);
    hi = Number(w >> 32n);
  } else {
    const cells = FACE_CELLS[order] as number;
    face = Math.floor(ipix / cells); // exact: division by a power of two
    const w = ipix - face * cells; // < 2^53, exact
    lo = w >>> 0; // ToUint32 is "w mod 2^32", exact for any integer double
    hi = Math.floor(w / TWO32);
  }
  XYF[0] = face;
  // x is on the even bits, y on the odd bits; the high word holds bits 16.. of x and y.
  XYF[1] = compact32(lo) | (compact32(hi) << 16);
  XYF[2] = compact32(lo >>> 1) | (compact32(hi >>> 1) << 16);
}

/** NESTED index from (x, y, face) without checks; exact for order <= 24. */
export function encodeNest(order: number, x: number, y: number, face: number): number {
  return face * (FACE_CELLS[order] as number) + interleave(x, y);
}

/** NESTED index from (x, y, face) without checks, as a bigint (any order 0..29). */
export function encodeNestBig(order: number, x: number, y: number, face: number): bigint {
  return (BigInt(face) << (SHIFT_BIG[order] as bigint)) | interleaveBig(x, y);
}

/** Face coordinates of a NESTED cell: x, y integers in [0, 2^order), face in 0..11; TypeError on bad order/ipix. */
export function nestToXyf(order: number, ipix: number | bigint): { x: number; y: number; face: number } {
  assertOrder(order);
  assertPixel(order, ipix);
  decodeNest(order, ipix);
  return { x: XYF[1] as number, y: XYF[2] as number, face: XYF[0] as number };
}

function assertXyf(order: number, x: number, y: number, face: number): void {
  const nside = NSIDE[order] as number;
  assertIndex("x", x, nside);
  assertIndex("y", y, nside);
  assertIndex("face", face, 12);
}

/** NESTED index (number) of cell (x, y) in [0, 2^order) of face 0..11, order 0..24; TypeError on bad arguments. */
export function xyfToNest(order: number, x: number, y: number, face: number): number {
  assertOrder(order, MAX_NUMBER_ORDER);
  assertXyf(order, x, y, face);
  return encodeNest(order, x, y, face);
}

/** NESTED index (bigint) of cell (x, y) in [0, 2^order) of face 0..11, order 0..29; TypeError on bad arguments. */
export function xyfToNestBig(order: number, x: number, y: number, face: number): bigint {
  assertOrder(order);
  assertXyf(order, x, y, face);
  return encodeNestBig(order, x, y, face);
}

/** Number of cells along a face side, nside = 2^order (order 0..29); TypeError on bad order. */
export function nsideOf(order: number): number {
  assertOrder(order);
  return NSIDE[order] as number;
}

/** Mean cell size in radians, sqrt(4*pi / (12 * 4^order)) (order 0..29); TypeError on bad order. */
export function cellSizeRad(order: number): number {
  assertOrder(order);
  return cellSizeRadUnchecked(order);
}

/** Parent (order - 1) of a NESTED cell at order 1..29: floor(ipix / 4), same type as ipix; TypeError on bad args. */
export function parentOf(order: number, ipix: number): number;
export function parentOf(order: number, ipix: bigint): bigint;
export function parentOf(order: number, ipix: number | bigint): number | bigint {
  assertOrder(order, MAX_ORDER, 1);
  assertPixel(order, ipix);
  // Removing the lowest (x, y) bit pair moves one level up the quadtree.
  return typeof ipix === "bigint" ? ipix >> 2n : Math.floor(ipix / 4);
}

/**
 * The 4 children (order + 1) of a NESTED cell, [4N, 4N+1, 4N+2, 4N+3]; number input needs order 0..23
 * (children exact), bigint input order 0..28; TypeError on bad arguments.
 */
export function childrenOf(order: number, ipix: number): number[];
export function childrenOf(order: number, ipix: bigint): bigint[];
export function childrenOf(order: number, ipix: number | bigint): number[] | bigint[] {
  if (typeof ipix === "bigint") {
    assertOrder(order, MAX_ORDER - 1);
    assertPixel(order, ipix);
    const b = ipix << 2n;
    return [b, b | 1n, b | 2n, b | 3n];
  }
  assertOrder(order, MAX_NUMBER_ORDER - 1);
  assertPixel(order, ipix);
  const b = ipix * 4;
  return [b, b + 1, b + 2, b + 3];
}
