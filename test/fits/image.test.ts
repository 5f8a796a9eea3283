import { describe, expect, it } from "vitest";
import { FitsError } from "../../src/fits/errors.js";
import { type Bitpix, encodeImage, listHdus, readImage } from "../../src/fits/image.js";
import { ASTROPY_DIR, fixture, type Json, norm, readJson, sampleData, toNumber } from "./fixtures.js";

interface ImageExpectation {
  hdu: number;
  bitpix: Bitpix;
  shape: number[];
  raw: Json[];
  physical: Json[];
  astropy: Json[];
  header: Record<string, Json>;
}
interface Expected {
  images: Record<string, ImageExpectation>;
  hdus: Record<string, Array<{ type: string; naxis: number }>>;
}
const expected = readJson<Expected>(`${ASTROPY_DIR}/expected.json`);

describe("readImage on files astropy wrote", () => {
  it.each(Object.entries(expected.images))("%s", (key, want) => {
    const buf = fixture(ASTROPY_DIR, key.split("#")[0] ?? key);
    const img = readImage(buf, want.hdu);
    expect(img.bitpix).toBe(want.bitpix);
    expect(img.width).toBe(want.shape[0]);
    expect(img.height).toBe(want.shape[1]);
    if (want.shape.length >= 3) expect(img.depth).toBe(want.shape.slice(2).reduce((a, b) => a * b, 1));
    else expect(img.depth).toBeUndefined();
    // Exact: physical = stored * BSCALE + BZERO in float64, computed by numpy in the same order.
    expect(norm(img.data)).toEqual(want.physical.map(norm));
    // astropy's own scaled arrays are float32 for BITPIX 8/16, so compare those to float32 precision.
    want.astropy.forEach((a, i) => {
      const ours = img.data[i] ?? Number.NaN;
      const ref = toNumber(a);
      if (Number.isNaN(ref) || !Number.isFinite(ref)) expect(Object.is(ours, ref) || ours === ref).toBe(true);
      else expect(Math.abs(ours - ref)).toBeLessThanOrEqual(Math.abs(ref) * 2 ** -23);
    });
    for (const [k, v] of Object.entries(want.header)) expect(norm(img.header.get(k)), k).toEqual(norm(v));
  });

  it("picks the first image HDU with NAXIS >= 2 by default (skipping an empty primary)", () => {
    const buf = fixture(ASTROPY_DIR, "mef.fits");
    const img = readImage(buf);
    expect(img.header.get("EXTNAME")).toBe("SCI");
    expect([img.width, img.height]).toEqual([5, 4]);
  });

  it("refuses tables and missing HDUs with NO_SUCH_HDU", () => {
    const buf = fixture(ASTROPY_DIR, "mef.fits");
    for (const i of [0, 2, 3, 9]) {
      expect(() => readImage(buf, i)).toThrowError(expect.objectContaining({ code: "NO_SUCH_HDU" }));
    }
    expect(() => readImage(fixture(ASTROPY_DIR, "table.fits"))).toThrow(FitsError);
  });
});

describe("listHdus", () => {
  it.each(Object.entries(expected.hdus))("%s", (name, want) => {
    const buf = fixture(ASTROPY_DIR, name);
    const hdus = listHdus(buf);
    expect(hdus.map((h) => ({ type: h.type, naxis: h.header.get("NAXIS") }))).toEqual(want);
    // HDUs tile the file: each starts where the previous one's padded data ends.
    let end = 0;
    for (const h of hdus) {
      expect(h.headerOffset).toBe(end);
      expect(h.dataOffset % 2880).toBe(0);
      end = h.dataOffset + Math.ceil(h.dataBytes / 2880) * 2880;
    }
    expect(end).toBe(buf.length);
  });
});

describe("encodeImage -> readImage round trip", () => {
  const bitpixes: Bitpix[] = [8, 16, 32, 64, -32, -64];
  it.each(bitpixes)("BITPIX %i, 3-D, primary and extension", (bitpix) => {
    const shape = [7, 5, 3];
    const data = sampleData(bitpix, 105);
    for (const extension of [false, true]) {
      const hdu = encodeImage({ bitpix, shape, data, extension, cards: [{ key: "OBJECT", value: "rt" }] });
      // An extension needs a primary HDU in front of it (here one without data).
      const buf = extension ? Buffer.concat([encodeImage({ bitpix: 8, shape: [], data: [] }), hdu]) : hdu;
      expect(buf.length % 2880).toBe(0);
      const img = readImage(buf);
      expect([img.width, img.height, img.depth, img.bitpix]).toEqual([7, 5, 3, bitpix]);
      expect(norm(img.data)).toEqual(data.map(norm));
      expect(img.header.cards[0]?.key).toBe(extension ? "XTENSION" : "SIMPLE");
      expect(img.header.get("OBJECT")).toBe("rt");
    }
  });

  it("writes big-endian data right after the header and zero-pads", () => {
    const buf = encodeImage({ bitpix: 16, shape: [2, 1], data: [0x0102, -2] });
    expect([...buf.subarray(2880, 2884)]).toEqual([0x01, 0x02, 0xff, 0xfe]);
    expect(buf.subarray(2884).every((b) => b === 0)).toBe(true);
    expect(buf.length).toBe(5760);
  });

  it("BITPIX -32 from a Float32Array (copied and byte-swapped) gives the same bytes as from numbers", () => {
    const values = [0, -0, 1, -1.5, Math.PI, 3.4e38, -3.4e38, 1e-45, -1e-45, 1.2e-38, Number.NaN];
    values.push(Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY);
    let x = 12345;
    while (values.length < 28 * 28) {
      x = (x * 1103515245 + 12345) % 2 ** 31; // a fixed pseudo-random sequence over many magnitudes
      values.push(((x / 2 ** 31) * 2 - 1) * 10 ** ((x % 60) - 30));
    }
    const floats = Float32Array.from(values);
    const fast = encodeImage({ bitpix: -32, shape: [28, 28], data: floats });
    const slow = encodeImage({ bitpix: -32, shape: [28, 28], data: Array.from(floats) });
    expect(fast.equals(slow)).toBe(true);
    // Big-endian: 1.0f is 3f 80 00 00 at the third value.
    expect([...fast.subarray(2880 + 8, 2880 + 12)]).toEqual([0x3f, 0x80, 0x00, 0x00]);
    expect(readImage(fast).data[4]).toBeCloseTo(Math.PI, 6);
    expect(Number.isNaN(readImage(fast).data[10])).toBe(true);
  });

  it("applies BSCALE/BZERO and BLANK given as cards (unsigned 16-bit convention)", () => {
    const buf = encodeImage({
      bitpix: 16,
      shape: [4, 1],
      data: [-32768, 32767, Number.NaN, 0],
      cards: [
        { key: "BZERO", value: 32768 },
        { key: "BSCALE", value: 1 },
        { key: "BLANK", value: -1 },
      ],
    });
    expect(Array.from(readImage(buf).data)).toEqual([0, 65535, Number.NaN, 32768]);
  });

  it("rejects bad arguments with a TypeError naming them", () => {
    expect(() => encodeImage({ bitpix: 16, shape: [2, 2], data: [1, 2, 3] })).toThrow(/data has 3 values/);
    expect(() => encodeImage({ bitpix: 8, shape: [1], data: [256] })).toThrow(/data\[0\] = 256/);
    expect(() => encodeImage({ bitpix: 16, shape: [1], data: [1.5] })).toThrow(TypeError);
    expect(() => encodeImage({ bitpix: 32, shape: [1], data: [Number.NaN] })).toThrow(TypeError);
    expect(() => encodeImage({ bitpix: 12 as Bitpix, shape: [1], data: [1] })).toThrow(/bitpix/);
    expect(() => encodeImage({ bitpix: 8, shape: [-1], data: [] })).toThrow(/shape/);
    expect(() =>
      encodeImage({ bitpix: 8, shape: [1], data: [1], cards: [{ key: "NAXIS1", value: 2 }] }),
    ).toThrow(/NAXIS1/);
  });
});
