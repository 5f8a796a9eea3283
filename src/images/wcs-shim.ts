/**
 * TEMPORARY stand-in for src/wcs (branch `wcs`), with the same shape: TAN only, built on src/fits/wcs.ts.
 * Deleted when the wcs branch is merged; nothing outside src/images imports it.
 */
import type { Card, FitsHeader } from "../fits/header.js";
import { parseTanWcs, type TanWcs, tanPixelToWorld, tanWorldToPixel } from "../fits/wcs.js";

/** A celestial WCS: pixel coordinates are 0-based like astropy (the first pixel's centre is (0, 0)). */
export interface CelestialWcs {
  worldToPixel(raDeg: number, decDeg: number): { x: number; y: number };
  pixelToWorld(x: number, y: number): { ra: number; dec: number };
}

/** Parse the celestial WCS of a header. Throws TypeError when there is none it understands. */
export function parseWcs(header: FitsHeader): CelestialWcs {
  const w: TanWcs = parseTanWcs(header);
  return {
    worldToPixel(raDeg, decDeg) {
      const p = tanWorldToPixel(w, raDeg, decDeg);
      return { x: p.x - 1, y: p.y - 1 };
    },
    pixelToWorld(x, y) {
      const s = tanPixelToWorld(w, x + 1, y + 1);
      return { ra: s.raDeg, dec: s.decDeg };
    },
  };
}

/** An image as cutout2d reads it. */
export interface CutoutImage {
  readonly header: FitsHeader;
  readonly width: number;
  readonly height: number;
  readonly data: ArrayLike<number>;
}

/** A stamp cut like astropy's Cutout2D. */
export type CutoutResult =
  | {
      readonly kind: "ok";
      readonly width: number;
      readonly height: number;
      readonly data: Float32Array;
      /** The image's header cards for the stamp: CRPIX shifted, structural and scaling keys left out. */
      readonly cards: Card[];
      /** 0-based pixel of the big image at the stamp's first pixel. */
      readonly x0: number;
      readonly y0: number;
      /** True when part of the stamp lies off the image (NaN there). */
      readonly partial: boolean;
    }
  | { readonly kind: "no_overlap" }
  | { readonly kind: "partial_refused" };

const DROP =
  /^(SIMPLE|XTENSION|BITPIX|NAXIS\d*|PCOUNT|GCOUNT|EXTEND|END|BSCALE|BZERO|BLANK|CHECKSUM|DATASUM)$/;

/**
 * Cut a widthPx x heightPx stamp centred on (raDeg, decDeg) without resampling, exactly as astropy's
 * Cutout2D (astropy.nddata.utils.overlap_slices): first pixel ceil(pos - size/2); NaN where the stamp runs
 * off the image (or partial_refused when `partial` is false).
 */
export function cutout2d(
  img: CutoutImage,
  wcs: CelestialWcs,
  raDeg: number,
  decDeg: number,
  widthPx: number,
  heightPx: number,
  opts: { partial: boolean },
): CutoutResult {
  const p = wcs.worldToPixel(raDeg, decDeg);
  if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) return { kind: "no_overlap" };
  const x0 = Math.ceil(p.x - widthPx / 2);
  const y0 = Math.ceil(p.y - heightPx / 2);
  const x1 = Math.ceil(p.x + widthPx / 2);
  const y1 = Math.ceil(p.y + heightPx / 2);
  if (x1 < 0 || y1 < 0 || x0 >= img.width || y0 >= img.height) return { kind: "no_overlap" };
  const partial = x0 < 0 || y0 < 0 || x1 > img.width || y1 > img.height;
  if (partial && !opts.partial) return { kind: "partial_refused" };
  const data = new Float32Array(widthPx * heightPx).fill(Number.NaN);
  for (let j = 0; j < heightPx; j++) {
    const y = y0 + j;
    if (y < 0 || y >= img.height) continue;
    for (let i = 0; i < widthPx; i++) {
      const x = x0 + i;
      if (x < 0 || x >= img.width) continue;
      data[j * widthPx + i] = img.data[y * img.width + x] as number;
    }
  }
  const cards: Card[] = [];
  for (const c of img.header.cards) {
    if (DROP.test(c.key)) continue;
    if (c.key === "CRPIX1" && typeof c.value === "number") cards.push({ ...c, value: c.value - x0 });
    else if (c.key === "CRPIX2" && typeof c.value === "number") cards.push({ ...c, value: c.value - y0 });
    else cards.push(c);
  }
  return { kind: "ok", width: widthPx, height: heightPx, data, cards, x0, y0, partial };
}

/** Sky boxes (degrees) that hold an image's footprint. */
export interface Footprint {
  readonly boxes: Array<{ minRa: number; maxRa: number; minDec: number; maxDec: number }>;
}

/**
 * The sky boxes of an image's footprint: its outer pixel edges sampled 32 times per side, padded by two
 * pixels for the curvature between samples; two boxes across RA = 0; RA 0..360 around a pole.
 */
export function footprint(header: FitsHeader): Footprint {
  const wcs = parseWcs(header);
  const width = header.getNumber("NAXIS1") ?? 0;
  const height = header.getNumber("NAXIS2") ?? 0;
  const ras: number[] = [];
  let minDec = 90;
  let maxDec = -90;
  const n = 32;
  const add = (x: number, y: number): void => {
    const s = wcs.pixelToWorld(x, y);
    ras.push(s.ra);
    minDec = Math.min(minDec, s.dec);
    maxDec = Math.max(maxDec, s.dec);
  };
  for (let k = 0; k <= n; k++) {
    const fx = -0.5 + (k / n) * width;
    const fy = -0.5 + (k / n) * height;
    add(fx, -0.5);
    add(fx, height - 0.5);
    add(-0.5, fy);
    add(width - 0.5, fy);
  }
  const a = wcs.pixelToWorld(0, 0);
  const b = wcs.pixelToWorld(1, 0);
  const c = wcs.pixelToWorld(0, 1);
  const pixDeg = Math.max(angle(a, b), angle(a, c));
  const pad = 2 * pixDeg;
  const inside = (ra: number, dec: number): boolean => {
    const p = wcs.worldToPixel(ra, dec);
    return p.x >= -0.5 && p.x <= width - 0.5 && p.y >= -0.5 && p.y <= height - 0.5;
  };
  if (inside(0, 90)) return { boxes: [{ minRa: 0, maxRa: 360, minDec: minDec - pad, maxDec: 90 }] };
  if (inside(0, -90)) return { boxes: [{ minRa: 0, maxRa: 360, minDec: -90, maxDec: maxDec + pad }] };
  minDec = Math.max(-90, minDec - pad);
  maxDec = Math.min(90, maxDec + pad);
  // The RA span is the circle minus its largest gap between sampled edge points.
  ras.sort((p, q) => p - q);
  const first = ras[0] as number;
  const last = ras[ras.length - 1] as number;
  let gap = first + 360 - last;
  let start = first;
  let span = last - first;
  for (let i = 1; i < ras.length; i++) {
    const g = (ras[i] as number) - (ras[i - 1] as number);
    if (g > gap) {
      gap = g;
      start = ras[i] as number;
      span = 360 - g;
    }
  }
  // Near a pole RA degrees shrink: pad RA by the pixel padding over cos(dec).
  const cosDec = Math.cos((Math.max(Math.abs(minDec), Math.abs(maxDec)) * Math.PI) / 180);
  const raPad = cosDec > 1e-6 ? pad / cosDec : 360;
  const len = span + 2 * raPad;
  if (len >= 360) return { boxes: [{ minRa: 0, maxRa: 360, minDec, maxDec }] };
  const s = (((start - raPad) % 360) + 360) % 360;
  const e = s + len;
  if (e <= 360) return { boxes: [{ minRa: s, maxRa: e, minDec, maxDec }] };
  return {
    boxes: [
      { minRa: s, maxRa: 360, minDec, maxDec },
      { minRa: 0, maxRa: e - 360, minDec, maxDec },
    ],
  };
}

function angle(a: { ra: number; dec: number }, b: { ra: number; dec: number }): number {
  const d = Math.PI / 180;
  const c =
    Math.sin(a.dec * d) * Math.sin(b.dec * d) +
    Math.cos(a.dec * d) * Math.cos(b.dec * d) * Math.cos((a.ra - b.ra) * d);
  return Math.acos(Math.min(1, Math.max(-1, c))) / d;
}
