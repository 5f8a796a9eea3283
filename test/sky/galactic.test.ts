import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { galacticToIcrs, icrsToGalactic } from "../../src/sky/galactic.js";

const ref = JSON.parse(
  readFileSync(resolve(import.meta.dirname, "../../fixtures/sky/galactic.json"), "utf8"),
) as {
  points: Array<{ ra: number; dec: number; l: number; b: number }>;
};

/** Angular distance in arcseconds (Vincenty's formula: accurate for tiny separations, unlike acos). */
function sepArcsec(a1: number, d1: number, a2: number, d2: number): number {
  const r = Math.PI / 180;
  const dl = (a2 - a1) * r;
  const [s1, c1, s2, c2] = [Math.sin(d1 * r), Math.cos(d1 * r), Math.sin(d2 * r), Math.cos(d2 * r)];
  const num = Math.hypot(c2 * Math.sin(dl), c1 * s2 - s1 * c2 * Math.cos(dl));
  const den = s1 * s2 + c1 * c2 * Math.cos(dl);
  return (Math.atan2(num, den) / r) * 3600;
}

describe("ICRS <-> Galactic", () => {
  it("matches astropy to 1 microarcsecond on 200 positions incl. poles and the galactic centre", () => {
    for (const p of ref.points) {
      const g = icrsToGalactic(p.ra, p.dec);
      expect(sepArcsec(g.lDeg, g.bDeg, p.l, p.b)).toBeLessThan(1e-6);
      const back = galacticToIcrs(g.lDeg, g.bDeg);
      expect(sepArcsec(back.raDeg, back.decDeg, p.ra, p.dec)).toBeLessThan(1e-6);
    }
  });
});
