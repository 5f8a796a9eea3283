import { describe, expect, it } from "vitest";
import { FitsError } from "../../src/fits/errors.js";
import { readImage } from "../../src/fits/image.js";
import {
  parseTanWcs,
  tanPixelToWorld,
  tanStamp,
  tanWcsCards,
  tanWorldToPixel,
} from "../../src/wcs/tan-header.js";
import { fixture, OURS_DIR, readJson, WCS_STAMPS } from "../fits/fixtures.js";

interface WcsVectors {
  origin: 1;
  stamps: Array<{ file: string; pixelToWorld: number[][]; worldToPixel: number[][] }>;
}
const vectors = readJson<WcsVectors>(`${OURS_DIR}/astropy-wcs.json`);

/** Angular separation in degrees (haversine: accurate for tiny angles). */
function separationDeg(ra1: number, dec1: number, ra2: number, dec2: number): number {
  const r = Math.PI / 180;
  const h =
    Math.sin(((dec2 - dec1) * r) / 2) ** 2 +
    Math.cos(dec1 * r) * Math.cos(dec2 * r) * Math.sin(((ra2 - ra1) * r) / 2) ** 2;
  return (2 * Math.asin(Math.min(1, Math.sqrt(h)))) / r;
}

describe("tanWcsCards", () => {
  it("describes a north-up, east-left stamp centred on the target (hips2fits convention)", () => {
    const cards = tanWcsCards({
      raDeg: 150.1,
      decDeg: 2.2,
      widthPx: 28,
      heightPx: 27,
      pixscaleArcsec: 0.396,
    });
    const get = (k: string) => cards.find((c) => c.key === k)?.value;
    expect([get("CTYPE1"), get("CTYPE2"), get("CUNIT1"), get("CUNIT2")]).toEqual([
      "RA---TAN",
      "DEC--TAN",
      "deg",
      "deg",
    ]);
    expect([get("CRVAL1"), get("CRVAL2"), get("CRPIX1"), get("CRPIX2")]).toEqual([150.1, 2.2, 14.5, 14]);
    expect([get("CDELT1"), get("CDELT2")]).toEqual([-0.396 / 3600, 0.396 / 3600]);
    expect([get("RADESYS"), get("EQUINOX")]).toEqual(["ICRS", 2000]);
    // East-left: RA decreases as x grows; north-up: Dec increases with y.
    const a = tanPixelToWorld(cards, 1, 14);
    const b = tanPixelToWorld(cards, 28, 14);
    expect(a.raDeg).toBeGreaterThan(b.raDeg);
    expect(tanPixelToWorld(cards, 14.5, 27).decDeg).toBeGreaterThan(tanPixelToWorld(cards, 14.5, 1).decDeg);
    expect(tanPixelToWorld(cards, 14.5, 14)).toEqual({ raDeg: 150.1, decDeg: 2.2 });
  });

  it("rejects bad geometry with a TypeError naming the argument", () => {
    const ok = { raDeg: 1, decDeg: 2, widthPx: 3, heightPx: 4, pixscaleArcsec: 1 };
    expect(() => tanWcsCards({ ...ok, decDeg: 91 })).toThrow(/decDeg/);
    expect(() => tanWcsCards({ ...ok, raDeg: Number.NaN })).toThrow(/raDeg/);
    expect(() => tanWcsCards({ ...ok, widthPx: 2.5 })).toThrow(/widthPx/);
    expect(() => tanWcsCards({ ...ok, heightPx: 0 })).toThrow(/heightPx/);
    expect(() => tanWcsCards({ ...ok, pixscaleArcsec: -1 })).toThrow(/pixscaleArcsec/);
    expect(() => tanWcsCards({ ...ok, projection: "SIN" as "TAN" })).toThrow(/projection/);
  });
});

describe("parseTanWcs", () => {
  const ok = { raDeg: 150.1, decDeg: 2.2, widthPx: 28, heightPx: 27, pixscaleArcsec: 0.396 };
  const refusal = (cards: Parameters<typeof parseTanWcs>[0]): FitsError => {
    try {
      parseTanWcs(cards);
    } catch (err) {
      if (err instanceof FitsError) return err;
      throw err;
    }
    throw new Error("parseTanWcs accepted the header");
  };

  it("reads back the numbers tanWcsCards wrote", () => {
    const t = parseTanWcs(tanWcsCards(ok));
    const want = tanStamp(ok);
    expect([t.crval1, t.crval2, t.crpix1, t.crpix2, t.lonpole]).toEqual([
      want.crval1,
      want.crval2,
      want.crpix1,
      want.crpix2,
      want.lonpole,
    ]);
    expect(t.cd.map(Math.abs)).toEqual(want.cd.map(Math.abs));
    expect([Math.sign(t.cd[0]), Math.sign(t.cd[3])]).toEqual([-1, 1]);
  });

  it("refuses a bad header with a FitsError code, not a TypeError", () => {
    const sin = tanWcsCards(ok).map((c) =>
      c.key.startsWith("CTYPE") ? { ...c, value: String(c.value).replace("TAN", "SIN") } : c,
    );
    expect(refusal(sin)).toMatchObject({ code: "UNSUPPORTED", message: expect.stringContaining("RA---TAN") });
    expect(refusal([{ key: "CTYPE1", value: "RA---TAN" }])).toMatchObject({ code: "BAD_HEADER" });
    expect(refusal(tanWcsCards(ok).filter((c) => c.key !== "CRPIX2"))).toMatchObject({
      code: "BAD_HEADER",
      message: expect.stringContaining("CRPIX2"),
    });
  });
});

describe("tan projection against astropy.wcs (wcslib)", () => {
  it("covers every stamp our encoder wrote", () => {
    expect(vectors.stamps.map((s) => s.file).sort()).toEqual(
      WCS_STAMPS.map((s) => `bitpix${s.bitpix}.fits`).sort(),
    );
  });

  it.each(vectors.stamps.map((s) => [s.file, s] as const))(
    "%s: pixel -> world within 1e-9 deg",
    (file, stamp) => {
      const header = readImage(fixture(OURS_DIR, file)).header;
      for (const [x = 0, y = 0, ra = 0, dec = 0] of stamp.pixelToWorld) {
        const w = tanPixelToWorld(header, x, y);
        expect(separationDeg(w.raDeg, w.decDeg, ra, dec), `pixel (${x}, ${y})`).toBeLessThan(1e-9);
        expect(w.raDeg).toBeGreaterThanOrEqual(0);
        expect(w.raDeg).toBeLessThan(360);
      }
    },
  );

  it.each(vectors.stamps.map((s) => [s.file, s] as const))(
    "%s: world -> pixel within 1e-6 px",
    (file, stamp) => {
      const wcs = parseTanWcs(readImage(fixture(OURS_DIR, file)).header);
      for (const [ra = 0, dec = 0, x = 0, y = 0] of stamp.worldToPixel) {
        const p = tanWorldToPixel(wcs, ra, dec);
        expect(Math.abs(p.x - x), `x of (${ra}, ${dec})`).toBeLessThan(1e-6);
        expect(Math.abs(p.y - y), `y of (${ra}, ${dec})`).toBeLessThan(1e-6);
      }
    },
  );

  it("round-trips pixel -> world -> pixel and gives NaN on the far hemisphere", () => {
    const cards = tanWcsCards({ raDeg: 359.99, decDeg: -45, widthPx: 100, heightPx: 80, pixscaleArcsec: 60 });
    for (const [x, y] of [
      [1, 1],
      [50.5, 40.5],
      [100, 80],
      [-500, 900],
    ] as const) {
      const w = tanPixelToWorld(cards, x, y);
      const p = tanWorldToPixel(cards, w.raDeg, w.decDeg);
      expect(p.x).toBeCloseTo(x, 8);
      expect(p.y).toBeCloseTo(y, 8);
    }
    expect(tanWorldToPixel(cards, 180, 45)).toEqual({ x: Number.NaN, y: Number.NaN });
  });
});
