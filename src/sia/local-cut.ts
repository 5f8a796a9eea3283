import type { Card } from "../fits/header.js";
import { listHdus, readImage } from "../fits/image.js";
import { cutout2d, encodeCutout } from "../wcs/cutout.js";
import { type CelestialWcs, parseWcs } from "../wcs/wcs.js";

/**
 * Cut a stamp out of a whole survey image (or a SODA answer), pixel-aligned like astropy's Cutout2D:
 * the image HDU that contains the position with the most margin (UKIDSS files hold four detectors),
 * then src/wcs's cutout2d (TAN, SIN, ZPN, TAN-SIP; CRPIX shifted, NaN padding or refusal).
 */

/** A decoded image HDU with its WCS, kept in memory between the stamps cut from it. */
export interface DecodedPlane {
  readonly hdu: number;
  readonly width: number;
  readonly height: number;
  readonly data: Float64Array;
  readonly header: ReturnType<typeof listHdus>[number]["header"];
  readonly wcs: CelestialWcs;
}

export type LocalCut =
  | { readonly kind: "ok"; readonly body: Buffer; readonly partial: boolean }
  | { readonly kind: "no_overlap" }
  | { readonly kind: "partial_refused" };

/** The 2-D image HDUs of a file with a celestial WCS vocut can use, decoded. Throws on a broken file. */
export function decodePlanes(buf: Buffer): DecodedPlane[] {
  const out: DecodedPlane[] = [];
  for (const h of listHdus(buf)) {
    if (h.type !== "PRIMARY" && h.type !== "IMAGE") continue;
    if ((h.header.getNumber("NAXIS") ?? 0) < 2) continue;
    let wcs: CelestialWcs;
    try {
      wcs = parseWcs(h.header);
    } catch {
      continue; // no celestial WCS here (an empty primary, a weight map): not a candidate
    }
    const img = readImage(buf, h.index);
    if ((img.depth ?? 1) !== 1) continue;
    out.push({ hdu: h.index, width: img.width, height: img.height, data: img.data, header: h.header, wcs });
  }
  return out;
}

/** The plane whose pixel grid contains the position with the largest margin to its nearest edge. */
export function planeContaining(
  planes: readonly DecodedPlane[],
  raDeg: number,
  decDeg: number,
): DecodedPlane | undefined {
  let best: DecodedPlane | undefined;
  let bestMargin = Number.NEGATIVE_INFINITY;
  for (const p of planes) {
    const { x, y } = p.wcs.worldToPixel(raDeg, decDeg);
    const m = Math.min(x + 0.5, y + 0.5, p.width - 0.5 - x, p.height - 0.5 - y);
    if (Number.isFinite(m) && m >= 0 && m > bestMargin) {
      best = p;
      bestMargin = m;
    }
  }
  return best;
}

/** Cut `w x h` pixels around the position from a plane and encode it with `extra` cards. */
export function cutPlane(
  p: DecodedPlane,
  raDeg: number,
  decDeg: number,
  w: number,
  h: number,
  partial: boolean,
  extra: readonly Card[],
): LocalCut {
  const r = cutout2d(p, p.wcs, raDeg, decDeg, w, h, { partial });
  if (r.kind !== "ok") return r;
  return { kind: "ok", body: encodeCutout(r, extra), partial: r.partial };
}
