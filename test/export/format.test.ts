import { describe, expect, it } from "vitest";
import { csvField, csvLine } from "../../src/export/csv.js";
import { cubeHeader } from "../../src/export/fits-cube.js";
import { npyHeader } from "../../src/export/npy.js";
import { parseHeader } from "../../src/fits/header.js";

describe("npyHeader", () => {
  it.each([[[0, 1, 28, 28]], [[1, 5, 28, 28]], [[123456789, 5, 64, 64]], [[7]]])(
    "shape %j: version 1.0, data at a multiple of 64, dict ending in a newline",
    (shape) => {
      const h = npyHeader(shape);
      expect(h.toString("latin1", 0, 6)).toBe("\x93NUMPY");
      expect([h[6], h[7]]).toEqual([1, 0]);
      expect(h.readUInt16LE(8)).toBe(h.length - 10);
      expect(h.length % 64).toBe(0);
      const text = h.toString("latin1", 10);
      const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
      const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${tuple}, }`;
      expect(text).toBe(`${dict.padEnd(h.length - 11, " ")}\n`);
    },
  );

  it("switches to version 2.0 (4-byte length) when the header needs more than 65535 bytes", () => {
    const h = npyHeader(Array.from({ length: 8000 }, () => 1000000));
    expect([h[6], h[7]]).toEqual([2, 0]);
    expect(h.readUInt32LE(8)).toBe(h.length - 12);
    expect(h.length % 64).toBe(0);
    expect(h[h.length - 1]).toBe(0x0a);
  });

  it("rejects negative or fractional axes", () => {
    expect(() => npyHeader([1, -1])).toThrow(TypeError);
    expect(() => npyHeader([1.5])).toThrow(TypeError);
  });
});

describe("csvField", () => {
  it("quotes commas, quotes, line breaks and edge spaces only", () => {
    expect(csvField("plain_id-1.2")).toBe("plain_id-1.2");
    expect(csvField("a,b")).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField("two\nlines")).toBe('"two\nlines"');
    expect(csvField(" lead")).toBe('" lead"');
    expect(csvField("")).toBe("");
    expect(csvLine(["1", "x,y", ""])).toBe('1,"x,y",\n');
  });
});

describe("cubeHeader", () => {
  it("names each band; unprintable or over-long labels are made printable and cut", () => {
    const long = "b".repeat(100);
    const buf = cubeHeader({ n: 2, b: 3, h: 28, w: 30 }, ["g", "é", long]);
    expect(buf.length % 2880).toBe(0);
    const { header } = parseHeader(buf, 0);
    expect(header.getNumber("BITPIX")).toBe(-32);
    expect(["NAXIS1", "NAXIS2", "NAXIS3", "NAXIS4"].map((k) => header.getNumber(k))).toEqual([30, 28, 3, 2]);
    expect(header.getString("BAND1")).toBe("g");
    expect(header.getString("BAND2")).toBe("?");
    expect(header.getString("BAND3")).toBe(`${"b".repeat(65)}...`);
  });
});
