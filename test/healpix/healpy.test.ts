import { describe, expect, it } from "vitest";
import {
  ang2pixNest,
  ang2pixNestBig,
  ang2xyfFrac,
  maxCellRadiusRad,
  neighboursNest,
  nestToXyf,
  pix2angNest,
  queryDiscInclusive,
  queryDiscInclusiveBig,
} from "../../src/healpix/index.js";
import { ORDERS, VECTORS } from "./vectors.js";

const angDiffDeg = (a: number, b: number): number => {
  const d = Math.abs(a - b) % 360;
  return Math.min(d, 360 - d);
};

describe(`healpy ${VECTORS.healpyVersion} reference vectors`, () => {
  it("covers the orders and positions the brief asks for", () => {
    expect(ORDERS).toEqual([0, 1, 2, 3, 5, 8, 10, 13, 16, 20, 24, 29]);
    expect(VECTORS.positions.length).toBeGreaterThan(100);
  });

  it.each(ORDERS)("ang2pix order %i: every position, exactly", (order) => {
    const want = VECTORS.ang2pix[String(order)] ?? [];
    expect(want.length).toBe(VECTORS.positions.length);
    const gotBig = VECTORS.positions.map(([ra, dec]) => ang2pixNestBig(order, ra, dec).toString());
    expect(gotBig).toEqual(want);
    if (order <= 24) {
      const gotNum = VECTORS.positions.map(([ra, dec]) => String(ang2pixNest(order, ra, dec)));
      expect(gotNum).toEqual(want);
    }
  });

  it.each(ORDERS)("ang2xyfFrac order %i: integer part is the xyf of healpy's cell", (order) => {
    const want = VECTORS.ang2pix[String(order)] ?? [];
    VECTORS.positions.forEach(([ra, dec], i) => {
      const f = ang2xyfFrac(order, ra, dec);
      const xyf = nestToXyf(order, BigInt(want[i] ?? "-1"));
      expect([f.face, Math.floor(f.x), Math.floor(f.y)]).toEqual([xyf.face, xyf.x, xyf.y]);
    });
  });

  it.each(ORDERS)("pix2ang order %i: cell centres to 1e-12 degrees", (order) => {
    const rows = VECTORS.pix2ang[String(order)] ?? [];
    expect(rows.length).toBeGreaterThanOrEqual(Math.min(12 * 4 ** order, 40));
    for (const [pix, ra, dec] of rows) {
      const got = pix2angNest(order, BigInt(pix));
      expect(angDiffDeg(got.raDeg, ra), `ra of ${pix}`).toBeLessThan(1e-12);
      expect(Math.abs(got.decDeg - dec), `dec of ${pix}`).toBeLessThan(1e-12);
      if (order <= 24) expect(pix2angNest(order, Number(pix))).toEqual(got);
    }
  });

  it.each(ORDERS)("neighbours order %i: exactly healpy's get_all_neighbours", (order) => {
    const rows = VECTORS.neighbours[String(order)] ?? [];
    for (const [pix, want] of rows) {
      expect(neighboursNest(order, BigInt(pix)).map(String), `neighbours of ${pix}`).toEqual(want);
      if (order <= 24) expect(neighboursNest(order, Number(pix)).map(String)).toEqual(want);
    }
  });

  it.each(VECTORS.queryDisc.map((d) => [d.order, d.raDeg, d.decDeg, d.radiusDeg, d] as const))(
    "query_disc order %i at (%f, %f) r=%f deg: ours is a superset of healpy inclusive",
    (order, ra, dec, radius, disc) => {
      const ours = queryDiscInclusive(order, ra, dec, radius);
      const set = new Set(ours);
      const missing = disc.cells.filter((c) => !set.has(c));
      expect(missing).toEqual([]);
      // Sorted, no duplicates, and not absurdly larger than healpy's answer.
      expect(ours).toEqual([...set].sort((a, b) => a - b));
      expect(ours.length).toBeLessThanOrEqual(Math.max(3 * disc.cells.length, disc.cells.length + 64));
      expect(queryDiscInclusiveBig(order, ra, dec, radius)).toEqual(ours.map((c) => BigInt(c)));
    },
  );

  it("maxCellRadiusRad bounds healpy.max_pixrad at every order 0..29", () => {
    VECTORS.maxPixrad.forEach((r, order) => {
      expect(maxCellRadiusRad(order)).toBeGreaterThanOrEqual(r);
      expect(maxCellRadiusRad(order)).toBeLessThan(1.35 * r);
    });
  });
});
