import { listHdus } from "../fits/image.js";
import { edgeMarginPx } from "./pixel-grid.js";
import { parseWcs, WcsError } from "./wcs.js";

/**
 * Among the image HDUs of a FITS file (primary and IMAGE extensions with NAXIS >= 2 and a celestial WCS;
 * UKIDSS files have 4 detector extensions and an empty primary), the one whose pixel grid contains the
 * position with the largest margin to the nearest edge (in pixels; the grid's edges are at -0.5 and n - 0.5,
 * a position on an edge has margin 0); undefined if none contains it. HDUs without a usable WCS are skipped;
 * a broken file throws FitsError.
 */
export function hduContaining(
  buf: Buffer,
  raDeg: number,
  decDeg: number,
): { hduIndex: number; margin: number } | undefined {
  let best: { hduIndex: number; margin: number } | undefined;
  for (const hdu of listHdus(buf)) {
    if (hdu.type !== "PRIMARY" && hdu.type !== "IMAGE") continue;
    const h = hdu.header;
    const width = h.get("NAXIS1");
    const height = h.get("NAXIS2");
    if ((h.get("NAXIS") as number) < 2 || typeof width !== "number" || typeof height !== "number") continue;
    if (width < 1 || height < 1) continue;
    let wcs: ReturnType<typeof parseWcs>;
    try {
      wcs = parseWcs(h);
    } catch (err) {
      if (err instanceof WcsError) continue;
      throw err;
    }
    const { x, y } = wcs.worldToPixel(raDeg, decDeg);
    const margin = edgeMarginPx(x, y, width, height);
    if (!(margin >= 0)) continue;
    if (best === undefined || margin > best.margin) best = { hduIndex: hdu.index, margin };
  }
  return best;
}
