/**
 * Bit interleaving for the NESTED scheme. Inside a base face, the NESTED index of cell (x, y) is the
 * Morton (Z-order) code of the pair: bit i of x goes to bit 2i and bit i of y goes to bit 2i+1
 * ("even bits = x, odd bits = y"). JS bitwise operators work on 32-bit integers, so a 32-bit word holds
 * the interleave of 16 bits of x and 16 bits of y; larger indices are assembled from a high and a low word.
 */

/**
 * Spread the low 16 bits of v (0 <= v < 2^16) onto the even bit positions of a 32-bit word (bit i -> bit 2i).
 * Each step splits every bit group in two and moves the upper half left by the half-width; the mask keeps
 * only the bits at their new places: 16 -> 2x8 -> 4x4 -> 8x2 -> 16x1 groups.
 */
export function spread16(v: number): number {
  let s = (v | (v << 8)) & 0x00ff00ff; // bytes into separate 16-bit lanes
  s = (s | (s << 4)) & 0x0f0f0f0f; // nibbles into separate bytes
  s = (s | (s << 2)) & 0x33333333; // bit pairs into separate nibbles
  s = (s | (s << 1)) & 0x55555555; // single bits onto the even positions
  return s;
}

/** Inverse of spread16: gather the even bits of a 32-bit word (bit 2i -> bit i) into a 16-bit value. */
export function compact32(v: number): number {
  let c = v & 0x55555555; // keep even bits only
  c = (c | (c >>> 1)) & 0x33333333; // pairs of bits
  c = (c | (c >>> 2)) & 0x0f0f0f0f; // nibbles
  c = (c | (c >>> 4)) & 0x00ff00ff; // bytes
  c = (c | (c >>> 8)) & 0x0000ffff; // one 16-bit value
  return c;
}

const TWO32 = 4294967296;

/**
 * Morton code of (x, y) as a number, exact while the result is < 2^53, i.e. for x, y < 2^26
 * (always true for orders <= 24, where x, y < 2^24). The low word interleaves the low 16 bits of x and y
 * (`>>> 0` reinterprets a set bit 31 as unsigned); the high word interleaves the bits above 16.
 */
export function interleave(x: number, y: number): number {
  const lo = (spread16(x & 0xffff) | (spread16(y & 0xffff) << 1)) >>> 0;
  if (x < 0x10000 && y < 0x10000) return lo; // orders <= 16: a single word
  const hi = spread16(x >>> 16) | (spread16(y >>> 16) << 1);
  return hi * TWO32 + lo;
}

/** Morton code of (x, y) for any x, y < 2^29 (up to 2^58), as a bigint. */
export function interleaveBig(x: number, y: number): bigint {
  const lo = (spread16(x & 0xffff) | (spread16(y & 0xffff) << 1)) >>> 0;
  const hi = spread16(x >>> 16) | (spread16(y >>> 16) << 1);
  return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
}
