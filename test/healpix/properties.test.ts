import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compact32, interleave, interleaveBig, spread16 } from "../../src/healpix/bits.js";
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
  queryDiscInclusiveBig,
  xyfToNest,
  xyfToNestBig,
} from "../../src/healpix/index.js";

const RUNS = { numRuns: 400 };
const CAP_DEC = (Math.asin(2 / 3) * 180) / Math.PI;

const npixBig = (order: number): bigint => 12n << BigInt(2 * order);

/** (order 0..29, a valid bigint pixel index at that order). */
const orderAndPixel = (maxOrder = 29) =>
  fc
    .integer({ min: 0, max: maxOrder })
    .chain((order) => fc.tuple(fc.constant(order), fc.bigInt({ min: 0n, max: npixBig(order) - 1n })));

/** Positions in degrees, random plus the awkward ones (poles, cap boundary, face boundaries, RA wrap). */
const raArb = fc.oneof(
  fc.double({ min: 0, max: 360, noNaN: true, maxExcluded: true }),
  fc.constantFrom(0, 45, 90, 135, 180, 225, 270, 315, 359.9999999, 360, -45, 720.5),
);
const decArb = fc.oneof(
  fc.double({ min: -90, max: 90, noNaN: true }),
  fc.constantFrom(90, -90, 0, CAP_DEC, -CAP_DEC, 41.8103149, -41.8103149, 89.9999999, -89.9999999),
);

/** Great-circle distance in degrees (haversine). */
function distDeg(ra1: number, dec1: number, ra2: number, dec2: number): number {
  const r = Math.PI / 180;
  const s1 = Math.sin(((dec2 - dec1) * r) / 2);
  const s2 = Math.sin(((ra2 - ra1) * r) / 2);
  const h = s1 * s1 + Math.cos(dec1 * r) * Math.cos(dec2 * r) * s2 * s2;
  return (2 * Math.asin(Math.min(1, Math.sqrt(h)))) / r;
}

describe("bit interleaving", () => {
  it("spread16 / compact32 are inverse and put x on even bits, y on odd bits", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), (x, y) => {
        const s = spread16(x);
        expect(compact32(s)).toBe(x);
        expect(s & 0xaaaaaaaa).toBe(0);
        const m = interleave(x, y);
        for (let i = 0; i < 16; i++) {
          expect(Math.floor(m / 2 ** (2 * i)) % 2).toBe((x >> i) & 1);
          expect(Math.floor(m / 2 ** (2 * i + 1)) % 2).toBe((y >> i) & 1);
        }
      }),
      RUNS,
    );
  });

  it("interleave (number, x, y < 2^24) equals interleaveBig", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 24 - 1 }),
        fc.integer({ min: 0, max: 2 ** 24 - 1 }),
        (x, y) => {
          expect(BigInt(interleave(x, y))).toBe(interleaveBig(x, y));
        },
      ),
      RUNS,
    );
  });
});

describe("NESTED structure", () => {
  it("nest -> xyf -> nest round-trips at every order 0..29", () => {
    fc.assert(
      fc.property(orderAndPixel(), ([order, pix]) => {
        const { x, y, face } = nestToXyf(order, pix);
        expect(x).toBeGreaterThanOrEqual(0);
        expect(x).toBeLessThan(2 ** order);
        expect(y).toBeLessThan(2 ** order);
        expect(face).toBe(Number(pix >> BigInt(2 * order)));
        expect(xyfToNestBig(order, x, y, face)).toBe(pix);
        if (order <= 24) {
          expect(nestToXyf(order, Number(pix))).toEqual({ x, y, face });
          expect(xyfToNest(order, x, y, face)).toBe(Number(pix));
        }
      }),
      RUNS,
    );
  });

  it("children are 4N..4N+3 = cells (2x+dx, 2y+dy), and each child's parent is N", () => {
    fc.assert(
      fc.property(orderAndPixel(28), ([order, pix]) => {
        const kids = childrenOf(order, pix);
        expect(kids).toEqual([0n, 1n, 2n, 3n].map((k) => 4n * pix + k));
        const p = nestToXyf(order, pix);
        kids.forEach((kid, k) => {
          expect(parentOf(order + 1, kid)).toBe(pix);
          expect(nestToXyf(order + 1, kid)).toEqual({
            x: 2 * p.x + (k & 1),
            y: 2 * p.y + (k >> 1),
            face: p.face,
          });
        });
        if (order <= 23) {
          const n = Number(pix);
          expect(childrenOf(order, n)).toEqual(kids.map(Number));
          for (const kid of childrenOf(order, n)) expect(parentOf(order + 1, kid)).toBe(n);
        }
      }),
      RUNS,
    );
  });

  it("cellSizeRad is sqrt(4 pi / npix) and halves per order", () => {
    expect(cellSizeRad(0)).toBeCloseTo(Math.sqrt(Math.PI / 3), 15);
    for (let o = 1; o <= 29; o++) expect(cellSizeRad(o) / cellSizeRad(o - 1)).toBeCloseTo(0.5, 14);
  });
});

describe("positions", () => {
  it("ang2pix(pix2ang(p)) === p at random orders 0..29 (bigint)", () => {
    fc.assert(
      fc.property(orderAndPixel(), ([order, pix]) => {
        const { raDeg, decDeg } = pix2angNest(order, pix);
        expect(raDeg).toBeGreaterThanOrEqual(0);
        expect(raDeg).toBeLessThan(360);
        expect(ang2pixNestBig(order, raDeg, decDeg)).toBe(pix);
        if (order <= 24) expect(ang2pixNest(order, raDeg, decDeg)).toBe(Number(pix));
      }),
      RUNS,
    );
  });

  it("the number path equals the bigint path at orders 0..24", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 24 }), raArb, decArb, (order, ra, dec) => {
        expect(BigInt(ang2pixNest(order, ra, dec))).toBe(ang2pixNestBig(order, ra, dec));
      }),
      { numRuns: 2000 },
    );
  });

  it("the cell of a point at order k+1 is a child of its cell at order k", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 29 }), raArb, decArb, (order, ra, dec) => {
        expect(parentOf(order, ang2pixNestBig(order, ra, dec))).toBe(ang2pixNestBig(order - 1, ra, dec));
      }),
      RUNS,
    );
  });

  it("ang2xyfFrac: integer part is ang2pix's cell, fractions in [0, nside), centres at +0.5", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 29 }), raArb, decArb, (order, ra, dec) => {
        const f = ang2xyfFrac(order, ra, dec);
        const c = nestToXyf(order, ang2pixNestBig(order, ra, dec));
        expect([f.face, Math.floor(f.x), Math.floor(f.y)]).toEqual([c.face, c.x, c.y]);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(orderAndPixel(), ([order, pix]) => {
        const { raDeg, decDeg } = pix2angNest(order, pix);
        const f = ang2xyfFrac(order, raDeg, decDeg);
        const c = nestToXyf(order, pix);
        expect(f.face).toBe(c.face);
        expect(Math.abs(f.x - (c.x + 0.5))).toBeLessThan(1e-5);
        expect(Math.abs(f.y - (c.y + 0.5))).toBeLessThan(1e-5);
      }),
      RUNS,
    );
  });

  it("ang2xyfFrac is continuous inside a face: a small step moves x, y by a small amount", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 20 }),
        raArb,
        fc.double({ min: -89, max: 89, noNaN: true }),
        (order, ra, dec) => {
          const step = cellSizeRad(order) * (180 / Math.PI) * 1e-3;
          const a = ang2xyfFrac(order, ra, dec);
          const b = ang2xyfFrac(order, ra, dec + step);
          if (a.face === b.face) {
            expect(Math.hypot(a.x - b.x, a.y - b.y)).toBeLessThan(0.01);
          }
        },
      ),
      RUNS,
    );
  });
});

describe("neighbours", () => {
  it("are symmetric, distinct, adjacent, and -1 only at the 3-face corners", () => {
    fc.assert(
      fc.property(orderAndPixel(), ([order, pix]) => {
        const nb = neighboursNest(order, pix);
        expect(nb).toHaveLength(8);
        const real = nb.filter((b) => b !== -1n);
        expect(real.length).toBeGreaterThanOrEqual(order === 0 ? 6 : 7);
        expect(new Set(real).size).toBe(real.length);
        expect(real).not.toContain(pix);
        const c = pix2angNest(order, pix);
        const size = cellSizeRad(order) * (180 / Math.PI);
        for (const b of real) {
          expect(neighboursNest(order, b)).toContain(pix);
          const cb = pix2angNest(order, b);
          expect(distDeg(c.raDeg, c.decDeg, cb.raDeg, cb.decDeg)).toBeLessThan(2.5 * size);
        }
        if (order <= 24) expect(neighboursNest(order, Number(pix))).toEqual(nb.map(Number));
      }),
      RUNS,
    );
  });

  it("exactly 24 cells per order have a missing neighbour (orders 1..4, exhaustive)", () => {
    for (let order = 1; order <= 4; order++) {
      let missing = 0;
      for (let p = 0; p < 12 * 4 ** order; p++) if (neighboursNest(order, p).includes(-1)) missing++;
      expect(missing).toBe(24);
    }
  });
});

describe("queryDiscInclusive", () => {
  it("never misses the cell of a point inside the disc", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 12 }),
        raArb,
        decArb,
        fc.double({ min: 0, max: 3, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 360, noNaN: true }),
        (order, ra, dec, radiusCells, frac, bearing) => {
          const size = cellSizeRad(order) * (180 / Math.PI);
          const radius = radiusCells * size;
          const cells = new Set(queryDiscInclusive(order, ra, dec, radius));
          // A point at distance frac * radius along `bearing` (spherical destination formula).
          const r = Math.PI / 180;
          const d = frac * radius * r;
          const b = bearing * r;
          const lat1 = dec * r;
          const lat2 = Math.asin(Math.sin(lat1) * Math.cos(d) + Math.cos(lat1) * Math.sin(d) * Math.cos(b));
          const lon2 =
            ra * r +
            Math.atan2(
              Math.sin(b) * Math.sin(d) * Math.cos(lat1),
              Math.cos(d) - Math.sin(lat1) * Math.sin(lat2),
            );
          expect(cells.has(ang2pixNest(order, lon2 / r, lat2 / r))).toBe(true);
          expect(cells.has(ang2pixNest(order, ra, dec))).toBe(true);
        },
      ),
      RUNS,
    );
  });

  it("the bigint variant works at order 29 and contains the centre's cell", () => {
    fc.assert(
      fc.property(raArb, decArb, (ra, dec) => {
        const cells = queryDiscInclusiveBig(29, ra, dec, 1e-8);
        expect(cells).toContain(ang2pixNestBig(29, ra, dec));
        expect(cells.length).toBeLessThan(200);
      }),
      { numRuns: 100 },
    );
  });

  it("a radius of 180 degrees returns every cell", () => {
    expect(queryDiscInclusive(2, 10, 10, 180)).toEqual(Array.from({ length: 192 }, (_, i) => i));
  });
});
