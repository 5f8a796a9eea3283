import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { encodeImage } from "../../src/fits/image.js";
import { footprint, hduContaining } from "../../src/wcs/cutout.js";
import { WcsError } from "../../src/wcs/wcs.js";
import { fixtureJson, fixturePath, headerOf } from "./helpers.js";

const mef = readFileSync(fixturePath("mef.fits"));
const { positions } = fixtureJson<{
  positions: Array<{ ra: number; dec: number; hduIndex: number | null; margin: number | null }>;
}>("mef.json");

describe("hduContaining on a WFCAM-like file (empty primary, 4 ZPN detectors)", () => {
  for (const p of positions) {
    it(`(${p.ra.toFixed(5)}, ${p.dec.toFixed(5)}) -> ${p.hduIndex === null ? "none" : `HDU ${p.hduIndex}`}`, () => {
      const r = hduContaining(mef, p.ra, p.dec);
      if (p.hduIndex === null) {
        expect(r).toBeUndefined();
        return;
      }
      expect(r?.hduIndex).toBe(p.hduIndex);
      expect(Math.abs((r?.margin as number) - (p.margin as number))).toBeLessThan(1e-8);
    });
  }

  it("skips images without a celestial WCS and picks the larger margin where grids overlap", () => {
    const wcs = (crpix1: number) => [
      { key: "CTYPE1", value: "RA---TAN" },
      { key: "CTYPE2", value: "DEC--TAN" },
      { key: "CRVAL1", value: 10 },
      { key: "CRVAL2", value: 20 },
      { key: "CRPIX1", value: crpix1 },
      { key: "CRPIX2", value: 5 },
      { key: "CDELT1", value: -0.001 },
      { key: "CDELT2", value: 0.001 },
    ];
    const data = new Float32Array(100);
    const buf = Buffer.concat([
      encodeImage({ bitpix: -32, shape: [10, 10], data }),
      encodeImage({ bitpix: -32, shape: [10, 10], data, extension: true, cards: wcs(2) }),
      encodeImage({ bitpix: -32, shape: [10, 10], data, extension: true, cards: wcs(5) }),
      encodeImage({
        bitpix: -32,
        shape: [10, 10],
        data,
        extension: true,
        cards: [
          ...wcs(5).filter((c) => c.key !== "CTYPE1" && c.key !== "CTYPE2"),
          { key: "CTYPE1", value: "RA---AIT" },
          { key: "CTYPE2", value: "DEC--AIT" },
        ],
      }),
    ]);
    expect(hduContaining(buf, 10, 20)).toEqual({ hduIndex: 2, margin: 4.5 });
    expect(hduContaining(buf, 190, -20)).toBeUndefined();
  });
});

interface Foot {
  cards: Array<[string, string | number]>;
  minDec: number;
  maxDec: number;
  raStart: number;
  raEnd: number;
  pixscaleDeg: number;
}
const { footprints } = fixtureJson<{ footprints: Record<string, Foot> }>("footprints.json");

/** True when RA `ra` lies in one of the boxes. */
function inRa(boxes: ReadonlyArray<{ minRa: number; maxRa: number }>, ra: number): boolean {
  return boxes.some((b) => ra >= b.minRa && ra <= b.maxRa);
}

describe("footprint against astropy's dense sampling of the whole pixel grid", () => {
  for (const [name, f] of Object.entries(footprints)) {
    it(`${name}: holds the true extent, at most a few pixels larger`, () => {
      const { boxes } = footprint(headerOf(f.cards));
      const slack = 10 * f.pixscaleDeg;
      for (const b of boxes) {
        expect(b.minRa).toBeLessThanOrEqual(b.maxRa);
        expect(b.minRa).toBeGreaterThanOrEqual(0);
        expect(b.maxRa).toBeLessThanOrEqual(360);
        expect(b.minDec).toBeLessThanOrEqual(f.minDec);
        expect(b.maxDec).toBeGreaterThanOrEqual(f.maxDec);
        expect(b.minDec).toBeGreaterThan(f.minDec - slack);
        expect(b.maxDec).toBeLessThan(f.maxDec + slack);
      }
      const pole = name.includes("pole");
      if (pole) {
        expect(boxes).toHaveLength(1);
        expect(boxes[0]).toMatchObject({ minRa: 0, maxRa: 360 });
        expect(name.startsWith("north") ? boxes[0]?.maxDec : boxes[0]?.minDec).toBe(
          name.startsWith("north") ? 90 : -90,
        );
        return;
      }
      expect(boxes).toHaveLength(name === "across_ra0" ? 2 : 1);
      expect(inRa(boxes, f.raStart)).toBe(true);
      expect(inRa(boxes, f.raEnd)).toBe(true);
      const cos = Math.cos((Math.max(Math.abs(f.minDec), Math.abs(f.maxDec)) * Math.PI) / 180);
      // Just outside the padded arc on both sides is not covered.
      expect(inRa(boxes, (f.raStart - slack / cos + 360) % 360)).toBe(false);
      expect(inRa(boxes, (f.raEnd + slack / cos) % 360)).toBe(false);
    });
  }

  it("needs NAXIS1/NAXIS2 and a WCS", () => {
    const f = footprints.plain as Foot;
    expect(() => footprint(headerOf(f.cards.filter(([k]) => k !== "NAXIS2")))).toThrow(WcsError);
    expect(() => footprint(headerOf(f.cards.filter(([k]) => k !== "CTYPE1")))).toThrow(WcsError);
  });
});
