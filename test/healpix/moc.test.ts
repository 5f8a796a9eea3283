import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import {
  MocError,
  mocContains,
  mocFromCells,
  mocFromTable,
  mocIntersectsDisc,
  mocSkyFraction,
} from "../../src/healpix/index.js";
import { icrsToGalactic } from "../../src/sky/galactic.js";
import { Coverage, OUTSIDE_MOC, readMocFits } from "../../src/sources/coverage.js";

const ROOT = resolve(import.meta.dirname, "../..");
const FIX = join(ROOT, "fixtures/moc");

/** Reference answers from healpy (fixtures/moc/make_mocs.py). */
const expected = JSON.parse(readFileSync(join(FIX, "expected.json"), "utf8")) as {
  order: number;
  uniqCount: number;
  rangeCount: number;
  skyFraction: number;
  deepCell: { order: number; ipix: string; lon: number; lat: number };
  points: Array<{ lon: number; lat: number; inside: boolean }>;
  discs: Array<{ lon: number; lat: number; radiusDeg: number; touches: boolean }>;
  hipsgen: Array<{
    file: string;
    coordsys: string;
    points: Array<{ ra: number; dec: number; inside: boolean }>;
  }>;
};

const read = (name: string) => readMocFits(readFileSync(join(FIX, name)), name);

describe("MOC FITS files (MOC 1.x NUNIQ, MOC 2.0 NUNIQ and RANGE) against healpy", () => {
  const files = ["moc1-nuniq-j.fits", "moc2-nuniq-k.fits", "moc2-range.fits"];

  it("the fixtures hold what the generator says and every form reads to the same coverage", () => {
    expect(expected.points.length).toBeGreaterThan(2000);
    expect(expected.points.filter((p) => p.inside).length).toBeGreaterThan(300);
    const j = read("moc1-nuniq-j.fits");
    const r = read("moc2-range.fits");
    expect(j.maxOrder).toBe(9);
    expect(r.maxOrder).toBe(9);
    expect(Array.from(r.starts)).toEqual(Array.from(j.starts));
    expect(Array.from(r.ends)).toEqual(Array.from(j.ends));
    expect(j.starts.length).toBe(expected.rangeCount);
    expect(mocSkyFraction(j)).toBeCloseTo(expected.skyFraction, 12);
  });

  for (const f of files) {
    it(`${f}: membership of ${expected.points.length} points equals healpy's ang2pix at the MOC's cells`, () => {
      const moc = read(f);
      const wrong = expected.points.filter((p) => mocContains(moc, p.lon, p.lat) !== p.inside);
      expect(wrong).toEqual([]);
    });

    it(`${f}: discs certainly touching or certainly missing the MOC are answered so`, () => {
      const moc = read(f);
      expect(expected.discs.filter((d) => d.touches).length).toBeGreaterThan(20);
      for (const d of expected.discs)
        expect(mocIntersectsDisc(moc, d.lon, d.lat, d.radiusDeg)).toBe(d.touches);
    });
  }

  it("an order-27 cell (uniq above 2^53, read as bigint) is kept, widened to its order-24 cell", () => {
    const moc = read("moc2-nuniq-k.fits");
    expect(moc.maxOrder).toBe(27);
    const d = expected.deepCell;
    expect(mocContains(moc, d.lon, d.lat)).toBe(true);
    // 1 arcsec away is outside the (13 mas) order-24 cell and every other cell of the MOC.
    expect(mocContains(moc, d.lon, d.lat + 1 / 3600)).toBe(false);
    expect(mocIntersectsDisc(moc, d.lon, d.lat + 1 / 3600, 2 / 3600)).toBe(true);
  });
});

describe("Hipsgen's Moc.fits of the sample HiPS (second reference)", () => {
  for (const h of expected.hipsgen) {
    it(`${h.file} (COORDSYS ${h.coordsys}): membership equals healpy's on ${h.points.length} points`, () => {
      const moc = readMocFits(readFileSync(join(ROOT, h.file)), h.file);
      expect(moc.frame).toBe(h.coordsys === "G" ? "galactic" : "equatorial");
      expect(h.points.filter((p) => p.inside).length).toBeGreaterThan(40);
      const wrong = h.points.filter((p) => {
        const g = moc.frame === "galactic" ? icrsToGalactic(p.ra, p.dec) : { lDeg: p.ra, bDeg: p.dec };
        return mocContains(moc, g.lDeg, g.bDeg) !== p.inside;
      });
      expect(wrong).toEqual([]);
    });
  }

  it("Coverage: a stamp far away is outside, the sample field and a stamp straddling the edge are not", () => {
    const moc = readMocFits(readFileSync(join(ROOT, "fixtures/hips/sample-g/Moc.fits")), "Moc.fits");
    const cov = new Coverage(new Map([["g", moc]]), (32 * 0.8 * 0.75) / 3600, new Map([["g", "Moc.fits"]]));
    const t = (raDeg: number, decDeg: number) => ({ id: "x", row: 1, raDeg, decDeg });
    expect(cov.outside(t(10, 10), "g")).toBe(OUTSIDE_MOC);
    expect(cov.outside(t(150.1, 2.2), "g")).toBeUndefined();
    expect(cov.outside(t(10, 10), "r")).toBeUndefined(); // no MOC for that band: fetched
    // Walk north from the field until the centre leaves the MOC: a stamp whose centre is just outside
    // still touches it (partial overlap is fetched); 0.1 deg further it does not.
    let dec = 2.2;
    while (mocContains(moc, 150.1, dec)) dec += 1 / 3600;
    expect(cov.outside(t(150.1, dec + 2 / 3600), "g")).toBeUndefined();
    expect(cov.outside(t(150.1, dec + 0.1), "g")).toBe(OUTSIDE_MOC);
  });
});

describe("bad MOCs are clear errors", () => {
  it("unknown ORDERING, a value that is no cell, odd RANGE, a range beyond the sphere, bad COORDSYS", () => {
    expect(() => mocFromTable({ ordering: "RING", values: [] })).toThrow(/ORDERING "RING"/);
    expect(() => mocFromTable({ ordering: "NUNIQ", values: [3] })).toThrow(MocError);
    expect(() => mocFromTable({ ordering: "RANGE", values: [1n] })).toThrow(/pairs/);
    expect(() => mocFromTable({ ordering: "RANGE", values: [0n, (12n << 58n) + 1n] })).toThrow(/order-29/);
    expect(() => mocFromTable({ ordering: "RANGE", values: [5n, 4n] })).toThrow(/order-29/);
    expect(() => mocFromTable({ ordering: "NUNIQ", coordsys: "E", values: [4] })).toThrow(/COORDSYS/);
    expect(() => readMocFits(Buffer.from("<html>not found</html>"), "x.fits")).toThrow(
      /x.fits is not a readable MOC/,
    );
  });

  it("an empty MOC covers nothing; a whole-sky MOC (the 12 base cells) everything", () => {
    const none = mocFromTable({ ordering: "NUNIQ", values: [] });
    expect(mocContains(none, 10, 10)).toBe(false);
    expect(mocIntersectsDisc(none, 10, 10, 180)).toBe(false);
    const all = mocFromCells(0, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(mocSkyFraction(all)).toBe(1);
    expect(all.starts.length).toBe(1);
    expect(mocIntersectsDisc(all, 359.9, -89.9, 1e-6)).toBe(true);
  });
});
