import type { FitsHeader } from "../fits/header.js";
import { type CelestialWcs, parseWcs, WcsError } from "./wcs.js";

/** An ICRS box in degrees: minRa <= maxRa always (a footprint across RA = 0 is two boxes). */
export interface SkyBox {
  readonly minRa: number;
  readonly maxRa: number;
  readonly minDec: number;
  readonly maxDec: number;
}

/** Edge samples are at most this many pixels apart (and at least 16, at most 1024 per edge). */
const SAMPLE_STEP_PX = 8;

/**
 * Sky bounding box of an image HDU from its WCS, for an R*Tree index: the pixel grid's edges (at -0.5 and
 * n - 0.5) are sampled every <= 8 px, the extremes padded by half a sample step (at least one pixel) so the
 * curved edges between samples stay inside; RA is the smallest arc holding every sample, split in two when
 * it crosses RA = 0; a footprint that contains a pole gets RA 0..360 and Dec up to +-90. Throws WcsError
 * (from parseWcs, or BAD_WCS without NAXIS1/NAXIS2).
 */
export function footprint(header: FitsHeader): { boxes: SkyBox[] } {
  const nx = header.get("NAXIS1");
  const ny = header.get("NAXIS2");
  if (typeof nx !== "number" || typeof ny !== "number" || !(nx >= 1) || !(ny >= 1)) {
    throw new WcsError(
      "BAD_WCS",
      `footprint needs NAXIS1 and NAXIS2 >= 1, got ${String(nx)} x ${String(ny)}`,
    );
  }
  const wcs = parseWcs(header);
  const ras: number[] = [];
  let minDec = Number.POSITIVE_INFINITY;
  let maxDec = Number.NEGATIVE_INFINITY;
  let maxStepPx = 0;
  const add = (x: number, y: number): void => {
    const s = wcs.pixelToWorld(x, y);
    if (!Number.isFinite(s.raDeg) || !Number.isFinite(s.decDeg)) return;
    ras.push(s.raDeg);
    minDec = Math.min(minDec, s.decDeg);
    maxDec = Math.max(maxDec, s.decDeg);
  };
  const edge = (len: number, at: (t: number) => void): void => {
    const n = Math.min(1024, Math.max(16, Math.ceil(len / SAMPLE_STEP_PX)));
    maxStepPx = Math.max(maxStepPx, len / n);
    for (let i = 0; i <= n; i++) at(-0.5 + (len * i) / n);
  };
  edge(nx, (x) => add(x, -0.5));
  edge(nx, (x) => add(x, ny - 0.5));
  edge(ny, (y) => add(-0.5, y));
  edge(ny, (y) => add(nx - 0.5, y));
  if (ras.length === 0) throw new WcsError("BAD_WCS", "no edge pixel of the image maps to the sky");
  const padDeg = wcs.pixelScaleDeg * Math.max(1, maxStepPx / 2);
  const north = containsPole(wcs, 90, nx, ny);
  const south = containsPole(wcs, -90, nx, ny);
  minDec = south ? -90 : Math.max(-90, minDec - padDeg);
  maxDec = north ? 90 : Math.min(90, maxDec + padDeg);
  const box = (minRa: number, maxRa: number): SkyBox => ({ minRa, maxRa, minDec, maxDec });
  if (north || south) return { boxes: [box(0, 360)] };
  // The smallest arc holding every RA is the complement of the largest gap between sorted neighbours.
  ras.sort((a, b) => a - b);
  let gap = (ras[0] as number) + 360 - (ras[ras.length - 1] as number);
  let start = ras[0] as number;
  let end = ras[ras.length - 1] as number;
  for (let i = 1; i < ras.length; i++) {
    const g = (ras[i] as number) - (ras[i - 1] as number);
    if (g > gap) {
      gap = g;
      start = ras[i] as number;
      end = ras[i - 1] as number;
    }
  }
  const cosDec = Math.cos((Math.max(Math.abs(minDec), Math.abs(maxDec)) * Math.PI) / 180);
  const padRa = cosDec > 0 ? padDeg / cosDec : 360;
  const arc = (end - start + 360) % 360;
  if (arc + 2 * padRa >= 360) return { boxes: [box(0, 360)] };
  start -= padRa;
  end += padRa;
  if (start < 0) start += 360;
  if (end >= 360) end -= 360;
  if (start <= end) return { boxes: [box(start, end)] };
  return { boxes: [box(start, 360), box(0, end)] };
}

/** True when the celestial pole at `decDeg` (+-90) projects inside the pixel grid. */
function containsPole(wcs: CelestialWcs, decDeg: number, nx: number, ny: number): boolean {
  const { x, y } = wcs.worldToPixel(0, decDeg);
  if (!(x >= -0.5 && x <= nx - 0.5 && y >= -0.5 && y <= ny - 0.5)) return false;
  // Guard against projections that fold: the pixel must map back to the pole.
  return Math.abs(wcs.pixelToWorld(x, y).decDeg - decDeg) < 1e-6;
}
