import { listHdus } from "../fits/image.js";
import { edgeMarginPx } from "./pixel-grid.js";
import { type CelestialWcs, parseWcs, WcsError } from "./wcs.js";

/**
 * Among images with a WCS, the one whose pixel grid holds the position with the largest margin to its nearest
 * edge (edgeMarginPx: 0 on an edge), the first of equals; undefined when none holds it (or none can project it).
 */
export function containing<
  T extends { readonly width: number; readonly height: number; readonly wcs: CelestialWcs },
>(images: Iterable<T>, raDeg: number, decDeg: number): { image: T; margin: number } | undefined {
  let best: { image: T; margin: number } | undefined;
  for (const image of images) {
    const { x, y } = image.wcs.worldToPixel(raDeg, decDeg);
    const margin = edgeMarginPx(x, y, image.width, image.height);
    if (!(margin >= 0)) continue;
    if (best === undefined || margin > best.margin) best = { image, margin };
  }
  return best;
}

/**
 * Among the image HDUs of a FITS file (primary and IMAGE extensions with NAXIS >= 2 and a celestial WCS;
 * UKIDSS files have 4 detector extensions and an empty primary), the one that contains the position with the
 * largest margin (pixels, see `containing`), from the headers alone; undefined if none contains it. HDUs
 * without a usable WCS are skipped; a broken file throws FitsError.
 */
export function hduContaining(
  buf: Buffer,
  raDeg: number,
  decDeg: number,
): { hduIndex: number; margin: number } | undefined {
  const images: Array<{ hduIndex: number; width: number; height: number; wcs: CelestialWcs }> = [];
  for (const hdu of listHdus(buf)) {
    if (hdu.type !== "PRIMARY" && hdu.type !== "IMAGE") continue;
    const h = hdu.header;
    const width = h.get("NAXIS1");
    const height = h.get("NAXIS2");
    if ((h.get("NAXIS") as number) < 2 || typeof width !== "number" || typeof height !== "number") continue;
    if (width < 1 || height < 1) continue;
    try {
      images.push({ hduIndex: hdu.index, width, height, wcs: parseWcs(h) });
    } catch (err) {
      if (err instanceof WcsError) continue;
      throw err;
    }
  }
  const best = containing(images, raDeg, decDeg);
  return best === undefined ? undefined : { hduIndex: best.image.hduIndex, margin: best.margin };
}
