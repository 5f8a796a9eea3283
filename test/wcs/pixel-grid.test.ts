import { describe, expect, it } from "vitest";
import { edgeMarginPx, stampInside, stampOrigin } from "../../src/wcs/pixel-grid.js";

describe("edgeMarginPx (0-based pixel centres, edges at -0.5 and n - 0.5)", () => {
  it("is the distance to the nearest edge: 0 on an edge, negative outside, NaN when unprojectable", () => {
    expect(edgeMarginPx(4.5, 2, 10, 20)).toBe(2.5);
    expect(edgeMarginPx(-0.5, 10, 10, 20)).toBe(0);
    expect(edgeMarginPx(9.5, 10, 10, 20)).toBe(0);
    expect(edgeMarginPx(5, 20, 10, 20)).toBe(-0.5);
    expect(edgeMarginPx(Number.NaN, 3, 10, 20)).toBeNaN();
  });
});

describe("stampOrigin and stampInside (astropy overlap_slices)", () => {
  it("takes ceil(x - size / 2): the pixel holding x.5 for odd sizes, the one above an integer for even", () => {
    expect(stampOrigin(10, 10, 5, 4)).toEqual({ x0: 8, y0: 8 });
    expect(stampOrigin(10.5, 9.5, 5, 4)).toEqual({ x0: 8, y0: 8 });
    expect(stampOrigin(-2.4, 0, 5, 5)).toEqual({ x0: -4, y0: -2 });
  });

  it("says whether the whole stamp lies on the grid", () => {
    expect(stampInside({ x0: 0, y0: 0 }, 5, 5, 5, 5)).toBe(true);
    expect(stampInside({ x0: 1, y0: 0 }, 5, 5, 5, 5)).toBe(false);
    expect(stampInside({ x0: -1, y0: 0 }, 3, 3, 5, 5)).toBe(false);
    expect(stampInside({ x0: 2, y0: 2 }, 3, 3, 5, 5)).toBe(true);
  });
});
