import { describe, expect, it } from "vitest";
import { sheetGrid } from "../../src/preview/preview.js";
import { asinhStretch, LUPTON_Q, luptonRgb, percentiles } from "../../src/preview/stretch.js";

describe("preview stretches", () => {
  it("percentiles ignore non-finite values and interpolate", () => {
    expect(
      percentiles(
        [
          [0, Number.NaN, 10],
          [Number.POSITIVE_INFINITY, 5],
        ],
        [0, 50, 100],
      ),
    ).toEqual([0, 5, 10]);
    expect(percentiles([[Number.NaN]], [50])[0]).toBeNaN();
  });

  it("asinh maps the limits to 0 and 1, monotonic, NaN to 0", () => {
    const f = asinhStretch(10, 20);
    expect(f(10)).toBe(0);
    expect(f(5)).toBe(0);
    expect(f(20)).toBeCloseTo(1, 12);
    expect(f(30)).toBeCloseTo(1, 12);
    expect(f(12)).toBeGreaterThan(0.2);
    expect(f(12)).toBeLessThan(f(15));
    expect(f(Number.NaN)).toBe(0);
  });

  it("Lupton colour keeps the channel ratios and clips by the largest channel", () => {
    const f = luptonRgb(1, LUPTON_Q);
    const [r, g, b] = f(0.3, 0.2, 0.1);
    expect(r / b).toBeCloseTo(3, 12);
    expect(g / b).toBeCloseTo(2, 12);
    const bright = f(300, 200, 100);
    expect(bright[0]).toBe(1);
    expect(bright[0] / bright[2]).toBeCloseTo(3, 12);
    expect(f(1, 1, 1)[0]).toBeCloseTo(1, 12); // I = 1 / alpha is full scale
    expect(f(-1, 0, 0)).toEqual([0, 0, 0]);
  });

  it("grids are near square", () => {
    expect(sheetGrid(1)).toEqual({ columns: 1, rows: 1 });
    expect(sheetGrid(5)).toEqual({ columns: 3, rows: 2 });
    expect(sheetGrid(400)).toEqual({ columns: 20, rows: 20 });
  });
});
