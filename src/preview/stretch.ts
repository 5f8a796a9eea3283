/** Display stretches for `vocut preview`: values in, 0..1 display levels out. */

/** Lower and upper percentiles of all finite pixels of the sheet that set the single-band limits. */
export const LOW_PERCENTILE = 1;
export const HIGH_PERCENTILE = 99.5;
/** Softening of the single-band asinh: the upper limit maps to asinh(BETA) / asinh(BETA) = 1. */
export const ASINH_BETA = 10;
/** Lupton et al. (2004) Q: how soon the asinh turns from linear to logarithmic. */
export const LUPTON_Q = 8;

/** The p-th percentile (0..100, linear interpolation) of the finite values of `chunks`; NaN if none. */
export function percentiles(chunks: Iterable<ArrayLike<number>>, ps: readonly number[]): number[] {
  let n = 0;
  const all: ArrayLike<number>[] = [];
  for (const c of chunks) {
    all.push(c);
    n += c.length;
  }
  const v = new Float64Array(n);
  let k = 0;
  for (const c of all) {
    for (let i = 0; i < c.length; i++) {
      const x = c[i] as number;
      if (Number.isFinite(x)) v[k++] = x;
    }
  }
  const sorted = v.subarray(0, k).sort();
  return ps.map((p) => {
    if (k === 0) return Number.NaN;
    const pos = (Math.min(100, Math.max(0, p)) / 100) * (k - 1);
    const lo = Math.floor(pos);
    const a = sorted[lo] as number;
    const b = sorted[Math.min(k - 1, lo + 1)] as number;
    return a + (b - a) * (pos - lo);
  });
}

/** Single band: limits lo..hi, then asinh(BETA * t) / asinh(BETA) with t = (x - lo) / (hi - lo) clipped to 0..1. */
export function asinhStretch(lo: number, hi: number): (x: number) => number {
  const span = hi > lo ? hi - lo : 1;
  const norm = Math.asinh(ASINH_BETA);
  return (x) => {
    if (!Number.isFinite(x)) return 0;
    const t = Math.min(1, Math.max(0, (x - lo) / span));
    return Math.asinh(ASINH_BETA * t) / norm;
  };
}

/**
 * Lupton et al. (2004) colour: with I = (R + G + B) / 3 and f(I) = asinh(alpha * Q * I) / Q, each channel
 * is scaled by f(I) / I (times Q / asinh(Q), so that I = 1 / alpha is full scale); a pixel whose largest
 * channel exceeds 1 is divided by it, which keeps its colour. Channels must already have their sky
 * subtracted; I <= 0 (or not finite) is black.
 */
export function luptonRgb(
  alpha: number,
  q = LUPTON_Q,
): (r: number, g: number, b: number) => [number, number, number] {
  const norm = q / Math.asinh(q);
  return (r, g, b) => {
    const i = (r + g + b) / 3;
    if (!(i > 0) || !Number.isFinite(i)) return [0, 0, 0];
    const k = ((Math.asinh(alpha * q * i) / q) * norm) / i;
    let c: [number, number, number] = [Math.max(0, r * k), Math.max(0, g * k), Math.max(0, b * k)];
    const m = Math.max(c[0], c[1], c[2]);
    if (m > 1) c = [c[0] / m, c[1] / m, c[2] / m];
    return c;
  };
}
