import { describe, expect, it } from "vitest";
import { parseWcs, WcsError } from "../../src/wcs/wcs.js";
import { fixtureJson, headerOf, sepDeg } from "./helpers.js";

interface Pair {
  x: number;
  y: number;
  ra: number;
  dec: number;
  xBack: number | null;
  yBack: number | null;
}
interface Vectors {
  headers: Record<
    string,
    {
      cards: Array<[string, string | number]>;
      pairs: Pair[];
      unprojectable: Array<{ lon: number; lat: number; x: number | null; y: number | null }>;
    }
  >;
}

type Sky = { raDeg: number; decDeg: number };
const ref = fixtureJson<Vectors>("vectors.json");

// Worst agreement measured when these tests were written: pixel -> world <= 3.5e-14 deg for TAN (all forms),
// SIN, SIP and galactic, 2e-12 deg for ZPN/NCP, 1.7e-11 deg for slant SIN (astropy's own inverse); world -> pixel
// <= 5e-11 px except ZPN WFCAM 1.6e-8 px and slant SIN 7e-10 px, where astropy's iterative pixel -> world stops
// early (our own round trip stays below 1.6e-10 px everywhere).

describe("parseWcs against astropy 5.2.1 all_pix2world / all_world2pix (origin 0)", () => {
  for (const [name, h] of Object.entries(ref.headers)) {
    it(`${name}: pixel -> world to 1e-9 deg, world -> pixel to 1e-6 px, NaN where astropy cannot project`, () => {
      const w = parseWcs(headerOf(h.cards));
      let px = 0;
      let deg = 0;
      let selfPx = 0;
      for (const p of h.pairs) {
        const s = w.pixelToWorld(p.x, p.y);
        deg = Math.max(deg, sepDeg(s.raDeg, s.decDeg, p.ra, p.dec));
        expect(s.raDeg).toBeGreaterThanOrEqual(0);
        expect(s.raDeg).toBeLessThan(360);
        const b = w.worldToPixel(p.ra, p.dec);
        // The pixel astropy started from is the exact answer; astropy's own inverse (xBack) agrees with it
        // to 2e-8 px (its ZPN iteration stops there).
        px = Math.max(px, Math.abs(b.x - p.x), Math.abs(b.y - p.y));
        expect(p.xBack).not.toBeNull();
        px = Math.max(
          px,
          Math.abs(b.x - (p.xBack as number)) - 2e-8,
          Math.abs(b.y - (p.yBack as number)) - 2e-8,
        );
        // Our own round trip is tighter than the agreement with astropy (whose ZPN iteration stops early).
        const r = w.worldToPixel(s.raDeg, s.decDeg);
        selfPx = Math.max(selfPx, Math.abs(r.x - p.x), Math.abs(r.y - p.y));
      }
      expect(selfPx).toBeLessThan(1e-9);
      expect(deg).toBeLessThan(1e-9);
      expect(px).toBeLessThan(1e-6);
      for (const u of h.unprojectable) {
        const lonLat = name === "tan_swapped" ? [u.lat, u.lon] : [u.lon, u.lat];
        if (name === "galactic") continue;
        const b = w.worldToPixel(lonLat[0] as number, lonLat[1] as number);
        if (u.x === null) expect(b.x).toBeNaN();
        else expect(Math.abs(b.x - u.x) / Math.abs(u.x)).toBeLessThan(1e-9);
      }
    });
  }
});

describe("parseWcs on equivalent and hostile headers", () => {
  const tan = ref.headers.tan_cd?.cards ?? [];
  const without = (...keys: string[]) => tan.filter(([k]) => !keys.includes(k));

  it("reads CD, PC + CDELT and CDELT + CROTA2 forms of one WCS alike", () => {
    const forms = ["tan_cd", "tan_pc", "tan_crota"].map((n) =>
      parseWcs(headerOf(ref.headers[n]?.cards ?? [])),
    );
    for (const [x, y] of [
      [0, 0],
      [1023, 799],
      [-100, 900],
    ] as const) {
      const [a, b, c] = forms.map((f) => f.pixelToWorld(x, y)) as [Sky, Sky, Sky];
      expect(sepDeg(a.raDeg, a.decDeg, b.raDeg, b.decDeg)).toBeLessThan(1e-12);
      expect(sepDeg(a.raDeg, a.decDeg, c.raDeg, c.decDeg)).toBeLessThan(1e-12);
    }
  });

  it("exposes the ctype, projection, SIP flag and pixel scale", () => {
    const w = parseWcs(headerOf(ref.headers.tan_sip?.cards ?? []));
    expect(w.ctype).toEqual(["RA---TAN-SIP", "DEC--TAN-SIP"]);
    expect(w.projection).toBe("TAN");
    expect(w.sip).toBe(true);
    expect(w.pixelScaleDeg).toBeCloseTo(2 / 3600, 12);
  });

  const bad = (cards: ReadonlyArray<readonly [string, string | number]>): WcsError => {
    try {
      parseWcs(headerOf(cards));
    } catch (err) {
      if (err instanceof WcsError) return err;
      throw err;
    }
    throw new Error("parseWcs accepted the header");
  };

  it("refuses a missing CRPIX, CRVAL or CTYPE as BAD_WCS", () => {
    expect(bad(without("CRPIX1"))).toMatchObject({
      code: "BAD_WCS",
      message: expect.stringContaining("CRPIX1"),
    });
    expect(bad(without("CRVAL2"))).toMatchObject({
      code: "BAD_WCS",
      message: expect.stringContaining("CRVAL2"),
    });
    expect(bad(without("CTYPE1", "CTYPE2"))).toMatchObject({ code: "BAD_WCS" });
  });

  it("refuses a singular CD matrix and non-finite values as BAD_WCS", () => {
    const singular = [
      ...without("CD1_1", "CD1_2", "CD2_1", "CD2_2"),
      ["CD1_1", 1e-4],
      ["CD1_2", 2e-4],
      ["CD2_1", 1e-4],
      ["CD2_2", 2e-4],
    ] as const;
    expect(bad(singular)).toMatchObject({ code: "BAD_WCS", message: expect.stringContaining("singular") });
    expect(bad([...without("CRVAL1"), ["CRVAL1", Number.NaN]])).toMatchObject({
      code: "BAD_WCS",
      message: expect.stringContaining("CRVAL1"),
    });
    expect(bad([...without("CRPIX2"), ["CRPIX2", "NaN"]])).toMatchObject({ code: "BAD_WCS" });
    expect(bad([...without("CRVAL2"), ["CRVAL2", 91]])).toMatchObject({ code: "BAD_WCS" });
  });

  it("refuses unknown projections, frames and units as UNSUPPORTED with a clear message", () => {
    const ait = [...without("CTYPE1", "CTYPE2"), ["CTYPE1", "RA---AIT"], ["CTYPE2", "DEC--AIT"]] as const;
    const e = bad(ait);
    expect(e.code).toBe("UNSUPPORTED");
    expect(e.message).toMatch(/projection AIT .*supported: TAN, SIN, NCP, ZPN/);
    const tpv = [...without("CTYPE1", "CTYPE2"), ["CTYPE1", "RA---TPV"], ["CTYPE2", "DEC--TPV"]] as const;
    expect(bad(tpv).code).toBe("UNSUPPORTED");
    const ecl = [...without("CTYPE1", "CTYPE2"), ["CTYPE1", "ELON-TAN"], ["CTYPE2", "ELAT-TAN"]] as const;
    expect(bad(ecl)).toMatchObject({ code: "UNSUPPORTED", message: expect.stringContaining("ELON-TAN") });
    const linear = [...without("CTYPE1", "CTYPE2"), ["CTYPE1", "LINEAR"], ["CTYPE2", "LINEAR"]] as const;
    expect(bad(linear).code).toBe("UNSUPPORTED");
    expect(bad([...tan, ["RADESYS", "FK4"], ["EQUINOX", 1950]])).toMatchObject({ code: "UNSUPPORTED" });
    expect(bad([...tan, ["EQUINOX", 1950]])).toMatchObject({
      code: "UNSUPPORTED",
      message: expect.stringContaining("FK4"),
    });
    expect(bad([...tan, ["RADESYS", "FK5"], ["EQUINOX", 1975]]).code).toBe("UNSUPPORTED");
    expect(bad([...tan, ["CUNIT1", "arcsec"]])).toMatchObject({
      code: "UNSUPPORTED",
      message: expect.stringContaining("CUNIT1"),
    });
    expect(bad([...without("CTYPE2"), ["CTYPE2", "DEC--SIN"]]).code).toBe("BAD_WCS");
  });

  it("accepts ICRS, FK5 J2000 and CUNIT deg", () => {
    for (const extra of [
      [["RADESYS", "ICRS"]],
      [
        ["RADESYS", "FK5"],
        ["EQUINOX", 2000],
      ],
      [
        ["EQUINOX", 2000],
        ["CUNIT1", "deg"],
        ["CUNIT2", "DEG"],
      ],
    ] as const) {
      expect(parseWcs(headerOf([...tan, ...extra])).ctype).toEqual(["RA---TAN", "DEC--TAN"]);
    }
  });

  it("refuses a ZPN polynomial without a valid region as BAD_WCS", () => {
    const zpn = ref.headers.zpn_wfcam?.cards.filter(([k]) => !k.startsWith("PV")) ?? [];
    expect(bad(zpn)).toMatchObject({ code: "BAD_WCS", message: expect.stringContaining("ZPN") });
    expect(bad([...zpn, ["PV2_1", -1], ["PV2_3", 220]])).toMatchObject({ code: "BAD_WCS" });
  });
});
