import { describe, expect, it } from "vitest";
import { gnomonic, parseTan, parseWcs, tanWcs, WcsError } from "../../src/wcs/wcs.js";
import { fixtureJson, headerOf, sepDeg } from "./helpers.js";

interface Vectors {
  headers: Record<
    string,
    {
      cards: Array<[string, string | number]>;
      pairs: Array<{ x: number; y: number; ra: number; dec: number }>;
    }
  >;
}
const ref = fixtureJson<Vectors>("vectors.json");
const tanCd = ref.headers.tan_cd ?? { cards: [], pairs: [] };

function wcsError(f: () => unknown): WcsError {
  try {
    f();
  } catch (err) {
    if (err instanceof WcsError) return err;
    throw err;
  }
  throw new Error("no WcsError");
}

describe("tanWcs: a TAN WCS from numbers (0-based pixels)", () => {
  const t = parseTan(headerOf(tanCd.cards));

  it("reads the numbers of a TAN header", () => {
    expect(t).toMatchObject({ crval1: 150.1, crval2: 2.2, crpix1: 512.5, crpix2: 400, lonpole: 180 });
    expect(t.cd[0]).toBe(-0.0005423866706221852);
    expect(t.cd[1]).toBe(0.00012024422996561272);
  });

  it("agrees with astropy (origin 0) and with parseWcs of the same header", () => {
    const w = tanWcs(t);
    const h = parseWcs(headerOf(tanCd.cards));
    expect(tanCd.pairs.length).toBeGreaterThan(10);
    for (const p of tanCd.pairs) {
      const s = w.pixelToWorld(p.x, p.y);
      expect(sepDeg(s.raDeg, s.decDeg, p.ra, p.dec)).toBeLessThan(1e-12);
      expect(s).toEqual(h.pixelToWorld(p.x, p.y));
      const back = w.worldToPixel(p.ra, p.dec);
      expect(Math.abs(back.x - p.x) + Math.abs(back.y - p.y)).toBeLessThan(1e-8);
    }
  });

  it("refuses non-finite values, an impossible latitude and a singular matrix as BAD_WCS", () => {
    expect(wcsError(() => tanWcs({ ...t, crpix1: Number.NaN }))).toMatchObject({ code: "BAD_WCS" });
    expect(wcsError(() => tanWcs({ ...t, crval2: 91 }))).toMatchObject({ code: "BAD_WCS" });
    expect(wcsError(() => tanWcs({ ...t, cd: [1e-4, 2e-4, 1e-4, 2e-4] }))).toMatchObject({
      code: "BAD_WCS",
      message: expect.stringContaining("singular"),
    });
  });

  it("parseTan refuses other projections and SIP as UNSUPPORTED", () => {
    const sin = tanCd.cards.map(([k, v]): [string, string | number] => [
      k,
      typeof v === "string" ? v.replace("TAN", "SIN") : v,
    ]);
    expect(wcsError(() => parseTan(headerOf(sin)))).toMatchObject({ code: "UNSUPPORTED" });
    const sip = ref.headers.tan_sip?.cards ?? [];
    expect(sip.length).toBeGreaterThan(0);
    expect(wcsError(() => parseTan(headerOf(sip)))).toMatchObject({ code: "UNSUPPORTED" });
  });
});

describe("gnomonic: tangent-plane coordinates (degrees, x east, y north)", () => {
  it("puts the centre at the origin, east at +x and north at +y", () => {
    const p = gnomonic(150.1, 2.2);
    expect(p(150.1, 2.2).map(Math.abs)).toEqual([0, 0]);
    const [xe, ye] = p(150.11, 2.2);
    expect(xe).toBeGreaterThan(0);
    expect(Math.abs(ye)).toBeLessThan(1e-5);
    const [xn, yn] = p(150.1, 2.21);
    expect(Math.abs(xn)).toBeLessThan(1e-12);
    expect(yn).toBeGreaterThan(0);
  });

  it("is the textbook gnomonic projection, and NaN on the far hemisphere", () => {
    const r = Math.PI / 180;
    const textbook = (ra: number, dec: number, ra0: number, dec0: number): [number, number] => {
      const cosc =
        Math.sin(dec0 * r) * Math.sin(dec * r) +
        Math.cos(dec0 * r) * Math.cos(dec * r) * Math.cos((ra - ra0) * r);
      const x = (Math.cos(dec * r) * Math.sin((ra - ra0) * r)) / cosc;
      const y =
        (Math.cos(dec0 * r) * Math.sin(dec * r) -
          Math.sin(dec0 * r) * Math.cos(dec * r) * Math.cos((ra - ra0) * r)) /
        cosc;
      return [x / r, y / r];
    };
    for (const [ra0, dec0] of [
      [150.1, 2.2],
      [0.5, -89.5],
      [359.9, 60],
    ] as const) {
      const p = gnomonic(ra0, dec0);
      for (const [dra, ddec] of [
        [0.3, 0.2],
        [-1.5, 0.4],
        [20, -10],
      ] as const) {
        const dec = Math.max(-90, Math.min(90, dec0 + ddec));
        const [x, y] = p(ra0 + dra, dec);
        const [tx, ty] = textbook(ra0 + dra, dec, ra0, dec0);
        expect(Math.abs(x - tx) + Math.abs(y - ty)).toBeLessThan(1e-10);
      }
    }
    expect(gnomonic(150.1, 2.2)(330.1, -2.2).every(Number.isNaN)).toBe(true);
  });
});
