import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { PNG } from "pngjs";
import { describe, expect, it } from "vitest";
import { checkRaster, decodeRaster, encodePng, pngText, rasterKind } from "../../src/raster/raster.js";
import { HipsSource } from "../../src/sources/hips/hips-source.js";
import { tilePath } from "../../src/sources/hips/properties.js";
import { Hips2fitsSource } from "../../src/sources/hips2fits/hips2fits-source.js";

const HIPS = resolve(import.meta.dirname, "../../fixtures/hips");
const PNG_TILE = readFileSync(join(HIPS, "sample-irg-png", tilePath(12, 111649822, "png")));
const JPG_TILE = readFileSync(join(HIPS, "sample-g-jpg", tilePath(12, 111649822, "jpg")));
const HTML = Buffer.from("<!DOCTYPE html>\n<html><body>502 Bad Gateway</body></html>");

describe("raster images: recognised by magic bytes, accepted only when they decode whole", () => {
  it("Hipsgen's PNG and JPEG tiles are recognised and decode to 64x64 RGBA", () => {
    expect(rasterKind(PNG_TILE)).toBe("png");
    expect(rasterKind(JPG_TILE)).toBe("jpeg");
    for (const b of [PNG_TILE, JPG_TILE]) {
      const img = decodeRaster(b);
      expect([img.width, img.height, img.data.length]).toEqual([64, 64, 64 * 64 * 4]);
    }
    expect(checkRaster(PNG_TILE, "png")).toBeUndefined();
    expect(checkRaster(JPG_TILE, "jpeg")).toBeUndefined();
  });

  it("refuses HTML, the other format, and truncated or corrupted images", () => {
    expect(checkRaster(HTML, "png")).toMatch(/HTML\/XML page, not a PNG image/);
    expect(checkRaster(JPG_TILE, "png")).toMatch(/not a PNG image/);
    expect(checkRaster(PNG_TILE, "jpeg")).toMatch(/not a JPEG image/);
    expect(checkRaster(PNG_TILE.subarray(0, PNG_TILE.length >> 1), "png")).toMatch(/broken PNG/);
    expect(checkRaster(JPG_TILE.subarray(0, 40), "jpeg")).toMatch(/broken JPEG/);
    const flipped = Buffer.from(PNG_TILE);
    flipped[60] = (flipped[60] as number) ^ 0xff; // inside the first data chunk: its CRC no longer matches
    expect(checkRaster(flipped, "png")).toMatch(/broken PNG/);
  });

  it("encodePng writes grey, grey+alpha, RGB and RGBA that pngjs reads back, with CRC-valid tEXt chunks", () => {
    const grey = Uint8Array.from({ length: 12 }, (_, i) => i * 20);
    const alpha = Uint8Array.from({ length: 12 }, (_, i) => (i === 5 ? 0 : 255));
    for (const [channels, a] of [
      [1, undefined],
      [1, alpha],
      [3, undefined],
      [3, alpha],
    ] as const) {
      const data = channels === 1 ? grey : Uint8Array.from({ length: 36 }, (_, i) => (i * 7) % 256);
      const bytes = encodePng({
        width: 4,
        height: 3,
        channels,
        data,
        ...(a ? { alpha: a } : {}),
        text: { FITS: "CRVAL1  =                150.1\nCOMMENT x" },
      });
      // pngjs checks every chunk's CRC, the tEXt ones included.
      const back = PNG.sync.read(bytes, { checkCRC: true });
      expect([back.width, back.height]).toEqual([4, 3]);
      expect(bytes[25]).toBe(channels === 1 ? (a ? 4 : 0) : a ? 6 : 2);
      for (let p = 0; p < 12; p++) {
        expect(back.data[p * 4]).toBe(channels === 1 ? grey[p] : data[p * 3]);
        expect(back.data[p * 4 + 3]).toBe(a ? a[p] : 255);
      }
      expect(pngText(bytes)).toEqual({ FITS: "CRVAL1  =                150.1\nCOMMENT x" });
    }
    expect(() => encodePng({ width: 2, height: 2, channels: 1, data: new Uint8Array(3) })).toThrow(/needs 4/);
  });

  it("a stamp a killed run left is adopted only when it is a whole image of the job's format", () => {
    const hips = new HipsSource({
      kind: "hips",
      hips: [{ label: "g", location: "/x" }],
      geometry: { widthPx: 8, heightPx: 8, pixscaleArcsec: 1 },
      interp: "bilinear",
      grid: "hips2fits",
    });
    expect(hips.adoptable(PNG_TILE, ".png")).toBe(true);
    expect(hips.adoptable(PNG_TILE.subarray(0, 100), ".png")).toBe(false);
    expect(hips.adoptable(HTML, ".png")).toBe(false);
    const h2f = new Hips2fitsSource({
      kind: "hips2fits",
      endpoints: ["http://127.0.0.1:1/hips2fits"],
      hips: [{ label: "g", hips: "CDS/P/DSS2/color" }],
      geometry: { widthPx: 8, heightPx: 8, pixscaleArcsec: 1 },
      projection: "TAN",
      coordsys: "icrs",
      rotationAngleDeg: 0,
      format: "jpg",
    });
    expect(h2f.extension()).toBe(".jpg");
    expect(h2f.adoptable(JPG_TILE, ".jpg")).toBe(true);
    expect(h2f.adoptable(PNG_TILE, ".jpg")).toBe(false);
    expect(h2f.adoptable(JPG_TILE.subarray(0, 200), ".jpg")).toBe(false);
    // jpeg-js refuses a JPEG cut short anywhere (no end-of-image marker).
    expect(checkRaster(JPG_TILE.subarray(0, Math.floor(JPG_TILE.length * 0.99)), "jpeg")).toMatch(
      /broken JPEG/,
    );
  });
});
