import type { CelestialWcs } from "../../wcs/wcs.js";

/** The part of a WCS the co-add uses. */
export type PixelSky = Pick<CelestialWcs, "worldToPixel" | "pixelToWorld">;

/** How the values of several images at one output pixel are combined (NaN ignored). */
export type CoaddStat = "mean" | "median";

/** An image with its WCS, as the co-add samples it. */
export interface SampledImage {
  readonly width: number;
  readonly height: number;
  /** Row-major, x fastest, 0-based: (x, y) at data[y * width + x]. */
  readonly data: ArrayLike<number>;
  readonly wcs: PixelSky;
}

/**
 * Bilinear value at 0-based pixel position (x, y), as reproject's `reproject_interp(order="bilinear")`:
 * defined on the whole image including the outer half pixels (edge values are extended there), NaN outside
 * [-0.5, n - 0.5]; a NaN neighbour with non-zero weight makes the value NaN.
 */
export function bilinear(img: SampledImage, x: number, y: number): number {
  const { width: w, height: h, data } = img;
  if (!(x >= -0.5 && x <= w - 0.5 && y >= -0.5 && y <= h - 0.5)) return Number.NaN;
  const xf = Math.floor(x);
  const yf = Math.floor(y);
  const fx = x - xf;
  const fy = y - yf;
  const xa = Math.min(Math.max(xf, 0), w - 1);
  const xb = Math.min(Math.max(xf + 1, 0), w - 1);
  const ya = Math.min(Math.max(yf, 0), h - 1);
  const yb = Math.min(Math.max(yf + 1, 0), h - 1);
  let v = 0;
  const add = (weight: number, xi: number, yi: number): void => {
    if (weight !== 0) v += weight * (data[yi * w + xi] as number);
  };
  add((1 - fx) * (1 - fy), xa, ya);
  add(fx * (1 - fy), xb, ya);
  add((1 - fx) * fy, xa, yb);
  add(fx * fy, xb, yb);
  return v;
}

/**
 * Co-add onto a stamp's grid: at each stamp pixel, the stamp's own value and every other image's bilinear
 * value at that pixel's sky position, combined with a NaN-aware mean or median (NaN where all are NaN; the
 * median of an even count is the mean of the middle two, as numpy.nanmedian). `x0`, `y0` place the stamp on
 * its image (0-based pixel of the stamp's first pixel), whose WCS is `wcs`.
 */
export function coaddOnto(
  stamp: { readonly width: number; readonly height: number; readonly data: ArrayLike<number> },
  x0: number,
  y0: number,
  wcs: PixelSky,
  others: readonly SampledImage[],
  stat: CoaddStat,
): Float32Array {
  const { width, height } = stamp;
  const out = new Float32Array(width * height);
  const values = new Float64Array(others.length + 1);
  for (let j = 0; j < height; j++) {
    for (let i = 0; i < width; i++) {
      const k = j * width + i;
      let n = 0;
      const own = stamp.data[k] as number;
      if (!Number.isNaN(own)) values[n++] = own;
      const sky = wcs.pixelToWorld(x0 + i, y0 + j);
      for (const o of others) {
        const p = o.wcs.worldToPixel(sky.raDeg, sky.decDeg);
        const v = bilinear(o, p.x, p.y);
        if (!Number.isNaN(v)) values[n++] = v;
      }
      out[k] = combine(values, n, stat);
    }
  }
  return out;
}

function combine(values: Float64Array, n: number, stat: CoaddStat): number {
  if (n === 0) return Number.NaN;
  if (stat === "mean") {
    let s = 0;
    for (let i = 0; i < n; i++) s += values[i] as number;
    return s / n;
  }
  const v = values.subarray(0, n).sort();
  const mid = n >> 1;
  return n % 2 === 1 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
}
