/**
 * Per-order powers of two as Float64Array look-ups. `2 ** order` with a variable exponent compiles to a
 * generic pow() call in V8 (~80 ns, more than the rest of ang2pix); a typed-array load costs ~1 ns.
 */

/** nside = 2^order for order 0..29 (exact doubles). */
export const NSIDE: Float64Array = Float64Array.from({ length: 30 }, (_, o) => 2 ** o);

/** Cells per base face, 4^order = nside^2 for order 0..29 (exact doubles: powers of two). */
export const FACE_CELLS: Float64Array = Float64Array.from({ length: 30 }, (_, o) => 4 ** o);
