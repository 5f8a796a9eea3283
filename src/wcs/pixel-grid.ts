/**
 * Where a position and a stamp sit on an image's pixel grid, in src/wcs's convention: 0-based pixel centres,
 * so a grid of n pixels spans -0.5 .. n - 0.5.
 */

/**
 * Distance in pixels from 0-based pixel position (x, y) to the nearest edge of a width x height grid: 0 on an
 * edge, negative outside, NaN when x or y is NaN (a position the WCS cannot project). Used to rank the images
 * that contain a target ("--pick margin") and to test containment (margin >= 0).
 */
export function edgeMarginPx(x: number, y: number, width: number, height: number): number {
  return Math.min(x + 0.5, width - 0.5 - x, y + 0.5, height - 0.5 - y);
}

/**
 * First pixel (0-based, may be negative) of a widthPx x heightPx stamp around 0-based position (x, y), as
 * astropy's overlap_slices computes it for Cutout2D: ceil(x - widthPx / 2), in the same double arithmetic,
 * so the same pixels are chosen at half-integer (odd sizes) and integer (even sizes) positions.
 */
export function stampOrigin(
  x: number,
  y: number,
  widthPx: number,
  heightPx: number,
): { x0: number; y0: number } {
  return { x0: Math.ceil(x - widthPx / 2), y0: Math.ceil(y - heightPx / 2) };
}

/** Whether the whole stamp at origin (x0, y0) lies on a width x height grid (Cutout2D's mode="strict"). */
export function stampInside(
  o: { x0: number; y0: number },
  widthPx: number,
  heightPx: number,
  width: number,
  height: number,
): boolean {
  return o.x0 >= 0 && o.y0 >= 0 && o.x0 + widthPx <= width && o.y0 + heightPx <= height;
}
