import type { Card } from "../fits/header.js";
import { encodeImage, listHdus, readImage } from "../fits/image.js";
import { parseTanWcs, tanWorldToPixel } from "../fits/wcs.js";

/**
 * Cut a stamp out of a whole survey image, pixel-aligned (no resampling) like astropy's Cutout2D:
 * choose the image HDU that contains the position with the most margin, take the `w x h` pixels around
 * it, shift CRPIX, pad with NaN where the stamp runs off the image (or refuse that without `partial`).
 *
 * TEMPORARY: TAN only, until src/wcs (TAN, SIN, ZPN, TAN-SIP) lands; the interface stays.
 */

/** A decoded image HDU, kept in memory between the stamps cut from it. */
export interface DecodedPlane {
  readonly hdu: number;
  readonly width: number;
  readonly height: number;
  readonly data: Float32Array | Float64Array;
  readonly cards: readonly Card[];
  readonly worldToPixel: (raDeg: number, decDeg: number) => { x: number; y: number };
}

export type LocalCut =
  | { readonly kind: "ok"; readonly body: Buffer; readonly partial: boolean }
  | { readonly kind: "no_overlap" }
  | { readonly kind: "partial_refused" };

/** The image HDUs of a file with a usable celestial WCS, decoded. Throws on a broken file. */
export function decodePlanes(buf: Buffer): DecodedPlane[] {
  const out: DecodedPlane[] = [];
  for (const h of listHdus(buf)) {
    if (h.type !== "PRIMARY" && h.type !== "IMAGE") continue;
    if ((h.header.getNumber("NAXIS") ?? 0) < 2) continue;
    let wcs: ReturnType<typeof parseTanWcs>;
    try {
      wcs = parseTanWcs(h.header);
    } catch {
      continue;
    }
    const img = readImage(buf, h.index);
    out.push({
      hdu: h.index,
      width: img.width,
      height: img.height,
      data: img.data,
      cards: h.header.cards,
      worldToPixel: (ra, dec) => {
        const p = tanWorldToPixel(wcs, ra, dec);
        return { x: p.x - 1, y: p.y - 1 };
      },
    });
  }
  return out;
}

/** The plane containing the position with the largest margin (pixels to the nearest edge). */
export function planeContaining(
  planes: readonly DecodedPlane[],
  raDeg: number,
  decDeg: number,
): DecodedPlane | undefined {
  let best: DecodedPlane | undefined;
  let bestMargin = Number.NEGATIVE_INFINITY;
  for (const p of planes) {
    const { x, y } = p.worldToPixel(raDeg, decDeg);
    const m = Math.min(x + 0.5, y + 0.5, p.width - 0.5 - x, p.height - 0.5 - y);
    if (Number.isFinite(m) && m >= 0 && m > bestMargin) {
      best = p;
      bestMargin = m;
    }
  }
  return best;
}

const WCS_KEYS =
  /^(CTYPE|CRVAL|CUNIT|CDELT|CD\d_\d|PC\d_\d|PV\d_\d+|CROTA|LONPOLE|LATPOLE|RADESYS|RADECSYS|EQUINOX|EPOCH|MJD-OBS|DATE-OBS|A_|B_|AP_|BP_|FILTER|EXPTIME|BUNIT|MAGZP|PHOTZP|GAIN)/;

/** Cut `w x h` pixels around the position from a plane; cards: the plane's WCS with CRPIX shifted, plus `extra`. */
export function cutPlane(
  p: DecodedPlane,
  raDeg: number,
  decDeg: number,
  w: number,
  h: number,
  partial: boolean,
  extra: readonly Card[],
): LocalCut {
  const { x, y } = p.worldToPixel(raDeg, decDeg);
  if (!Number.isFinite(x) || !Number.isFinite(y)) return { kind: "no_overlap" };
  // Cutout2D (astropy overlap_slices): the first pixel is ceil(pos - size / 2).
  const x0 = Math.ceil(x - w / 2);
  const y0 = Math.ceil(y - h / 2);
  if (x0 + w <= 0 || y0 + h <= 0 || x0 >= p.width || y0 >= p.height) return { kind: "no_overlap" };
  const runsOff = x0 < 0 || y0 < 0 || x0 + w > p.width || y0 + h > p.height;
  if (runsOff && !partial) return { kind: "partial_refused" };
  const data = new Float32Array(w * h).fill(Number.NaN);
  for (let j = 0; j < h; j++) {
    const sy = y0 + j;
    if (sy < 0 || sy >= p.height) continue;
    for (let i = 0; i < w; i++) {
      const sx = x0 + i;
      if (sx < 0 || sx >= p.width) continue;
      data[j * w + i] = p.data[sy * p.width + sx] as number;
    }
  }
  const cards: Card[] = [];
  for (const c of p.cards) {
    if (c.key === "CRPIX1") cards.push({ ...c, value: (Number(c.value) - x0) as number });
    else if (c.key === "CRPIX2") cards.push({ ...c, value: (Number(c.value) - y0) as number });
    else if (WCS_KEYS.test(c.key)) cards.push(c);
  }
  cards.push(...extra);
  return { kind: "ok", body: encodeImage({ bitpix: -32, shape: [w, h], data, cards }), partial: runsOff };
}
