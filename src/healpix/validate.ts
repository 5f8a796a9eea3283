import { FACE_CELLS } from "./tables.js";

/**
 * Argument checks shared by the HEALPix functions. Every failure is a TypeError whose message starts
 * with the name of the offending argument, so callers (and tests) can tell which input was wrong.
 */

/** Highest HEALPix order supported (nside = 2^29): indices need bigint above order 24. */
export const MAX_ORDER = 29;

/** Highest order whose pixel indices (< 12*4^24 = 3.4e15 < 2^53) are all exact as a JS number. */
export const MAX_NUMBER_ORDER = 24;

/** Throws TypeError("order ...") unless order is an integer in 0..max (max defaults to 29). */
export function assertOrder(order: number, max: number = MAX_ORDER, min = 0): void {
  if (!Number.isInteger(order) || order < min || order > max) {
    const hint =
      max === MAX_NUMBER_ORDER && Number.isInteger(order) && order > max && order <= MAX_ORDER
        ? `; use the bigint variant for orders ${MAX_NUMBER_ORDER + 1}..${MAX_ORDER}`
        : "";
    throw new TypeError(`order must be an integer in ${min}..${max}, got ${String(order)}${hint}`);
  }
}

/** Number of cells at `order` as a bigint: 12 * 4^order (index 0..29). */
export const NPIX_BIG: readonly bigint[] = Array.from(
  { length: MAX_ORDER + 1 },
  (_, o) => 12n << BigInt(2 * o),
);

/**
 * Throws TypeError("ipix ...") unless ipix is a valid NESTED index at `order` (already validated):
 * an integer in [0, 12*4^order); a number must also be a safe integer (<= 2^53 - 1) to be exact.
 */
export function assertPixel(order: number, ipix: number | bigint): void {
  if (typeof ipix === "bigint") {
    if (ipix >= 0n && ipix < (NPIX_BIG[order] as bigint)) return;
  } else if (typeof ipix === "number") {
    // 12*4^order is a power of two times 3, so it is exact as a double even at order 29.
    if (Number.isSafeInteger(ipix) && ipix >= 0 && ipix < 12 * (FACE_CELLS[order] as number)) return;
  }
  throw new TypeError(
    `ipix must be an integer in [0, ${String(NPIX_BIG[order])}) at order ${order}` +
      `${typeof ipix === "number" ? " and a safe integer" : ""}, got ${String(ipix)}`,
  );
}

/** Throws TypeError naming `name` unless v is an integer in [0, limit). */
export function assertIndex(name: string, v: number, limit: number): void {
  if (!Number.isInteger(v) || v < 0 || v >= limit) {
    throw new TypeError(`${name} must be an integer in [0, ${limit}), got ${String(v)}`);
  }
}

/** Throws TypeError unless raDeg is finite and decDeg is finite and within [-90, 90]. */
export function assertRaDec(raDeg: number, decDeg: number): void {
  if (!Number.isFinite(raDeg))
    throw new TypeError(`raDeg must be a finite number of degrees, got ${String(raDeg)}`);
  if (!(decDeg >= -90 && decDeg <= 90)) {
    throw new TypeError(`decDeg must be a number of degrees in [-90, 90], got ${String(decDeg)}`);
  }
}
