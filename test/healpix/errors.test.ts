import { describe, expect, it } from "vitest";
import {
  ang2pixNest,
  ang2pixNestBig,
  ang2xyfFrac,
  cellSizeRad,
  childrenOf,
  neighboursNest,
  nestToXyf,
  parentOf,
  pix2angNest,
  queryDiscInclusive,
  xyfToNest,
  xyfToNestBig,
} from "../../src/healpix/index.js";

describe("argument checks throw a TypeError naming the argument", () => {
  it.each([-1, 30, 1.5, Number.NaN])("order %f", (order) => {
    expect(() => ang2pixNestBig(order, 0, 0)).toThrow(
      new TypeError(`order must be an integer in 0..29, got ${order}`),
    );
    expect(() => pix2angNest(order, 0)).toThrow(/^order must be/);
    expect(() => nestToXyf(order, 0n)).toThrow(/^order must be/);
    expect(() => cellSizeRad(order)).toThrow(TypeError);
    expect(() => ang2xyfFrac(order, 0, 0)).toThrow(/^order must be/);
  });

  it("number-returning functions stop at order 24 and point to the bigint variant", () => {
    expect(() => ang2pixNest(25, 0, 0)).toThrow(
      /^order must be an integer in 0\.\.24, got 25; use the bigint variant/,
    );
    expect(() => xyfToNest(25, 0, 0, 0)).toThrow(/^order/);
    expect(() => neighboursNest(25, 0)).toThrow(/^order/);
    expect(() => queryDiscInclusive(25, 0, 0, 1)).toThrow(/^order/);
    expect(() => childrenOf(24, 0)).toThrow(/^order must be an integer in 0\.\.23/);
    expect(() => parentOf(0, 0)).toThrow(/^order must be an integer in 1\.\.29/);
    expect(ang2pixNestBig(25, 0, 0)).toBeTypeOf("bigint");
  });

  it("bad pixel indices", () => {
    expect(() => pix2angNest(0, 12)).toThrow(
      new TypeError("ipix must be an integer in [0, 12) at order 0 and a safe integer, got 12"),
    );
    expect(() => pix2angNest(1, -1)).toThrow(/^ipix/);
    expect(() => pix2angNest(1, 0.5)).toThrow(/^ipix/);
    expect(() => nestToXyf(29, 12n << 58n)).toThrow(/^ipix must be an integer in \[0, 3458764513820540928\)/);
    expect(() => nestToXyf(29, 2 ** 53)).toThrow(/^ipix/);
    expect(() => neighboursNest(3, -1n)).toThrow(/^ipix/);
    expect(() => parentOf(2, 192)).toThrow(/^ipix/);
    expect(() => pix2angNest(1, "3" as unknown as number)).toThrow(/^ipix/);
  });

  it("bad coordinates", () => {
    expect(() => ang2pixNest(3, Number.NaN, 0)).toThrow(/^raDeg/);
    expect(() => ang2pixNest(3, Number.POSITIVE_INFINITY, 0)).toThrow(/^raDeg/);
    expect(() => ang2pixNest(3, 0, 90.0001)).toThrow(/^decDeg/);
    expect(() => ang2pixNest(3, 0, Number.NaN)).toThrow(/^decDeg/);
    expect(() => xyfToNest(2, 4, 0, 0)).toThrow(/^x must be an integer in \[0, 4\)/);
    expect(() => xyfToNestBig(2, 0, -1, 0)).toThrow(/^y/);
    expect(() => xyfToNest(2, 0, 0, 12)).toThrow(/^face/);
    expect(() => queryDiscInclusive(3, 0, 0, -1)).toThrow(/^radiusDeg/);
    expect(() => queryDiscInclusive(3, 0, 0, Number.POSITIVE_INFINITY)).toThrow(/^radiusDeg/);
  });

  it("RA wraps: -45, 315 and 675 degrees are the same cell", () => {
    expect(ang2pixNest(10, -45, 12)).toBe(ang2pixNest(10, 315, 12));
    expect(ang2pixNest(10, 675, 12)).toBe(ang2pixNest(10, 315, 12));
  });
});
