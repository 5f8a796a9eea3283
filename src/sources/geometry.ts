import { usageError } from "../errors.js";
import type { Geometry } from "./source.js";

/** Largest stamp side accepted, in pixels: beyond this a "cutout" is an image download. */
export const MAX_SIZE_PX = 10_000;

/** Parse `--size`: "28" (square) or "64x32" (width x height), in pixels. Throws a usage error. */
export function parseSize(text: string): { widthPx: number; heightPx: number } {
  const m = /^\s*(\d+)\s*(?:[xX]\s*(\d+))?\s*$/.exec(text);
  const w = m ? Number(m[1]) : Number.NaN;
  const h = m?.[2] !== undefined ? Number(m[2]) : w;
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1 || w > MAX_SIZE_PX || h > MAX_SIZE_PX) {
    throw usageError(
      "BAD_SIZE",
      `--size ${JSON.stringify(text)}: expected N or WxH, whole pixels 1..${MAX_SIZE_PX}`,
    );
  }
  return { widthPx: w, heightPx: h };
}

/** Parse `--pixscale` in arcsec/pixel: a positive finite number. Throws a usage error. */
export function parsePixscale(text: string): number {
  const v = Number(text);
  if (!Number.isFinite(v) || v <= 0 || v > 3600 * 10) {
    throw usageError(
      "BAD_PIXSCALE",
      `--pixscale ${JSON.stringify(text)}: expected arcseconds per pixel, > 0`,
    );
  }
  return v;
}

/** Field of view of the larger side, in degrees (what hips2fits calls `fov`). */
export function fovDeg(g: Geometry): number {
  return (Math.max(g.widthPx, g.heightPx) * g.pixscaleArcsec) / 3600;
}
