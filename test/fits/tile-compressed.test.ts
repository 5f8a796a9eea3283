import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { FitsError } from "../../src/fits/errors.js";
import { listHdus } from "../../src/fits/hdu.js";
import { type Card, encodeHeader, type FitsHeader, parseHeader } from "../../src/fits/header.js";
import { decompressImage, readCompressedImage } from "../../src/fits/tile-compressed.js";
import { parseWcs } from "../../src/wcs/wcs.js";
import { FIXTURES } from "./fixtures.js";

/** Written by fixtures/fits/make_tile_compressed.py: compressed files and the pixels astropy reads back. */
const DIR = join(FIXTURES, "tilecomp");

interface Case {
  file: string;
  hdu: number;
  width: number;
  height: number;
  zbitpix: number;
  zcmptype: string;
  zquantiz: string | null;
  tile: [number, number];
  float32: boolean;
  nan: number;
  bin: string;
}
const manifest = JSON.parse(readFileSync(join(DIR, "manifest.json"), "utf8")) as Case[];
const supported = manifest.filter((c) => c.zcmptype !== "PLIO_1" && c.zcmptype !== "HCOMPRESS_1");

function expectedPixels(c: Case): Float64Array {
  const b = readFileSync(join(DIR, c.bin));
  return new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

/** Index of the first pixel that differs (NaN equals NaN), or -1. */
function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (!(x === y || (Number.isNaN(x) && Number.isNaN(y)))) return i;
  }
  return a.length === b.length ? -1 : a.length;
}

describe("tile-compressed images read like astropy", () => {
  it.each(supported.map((c) => [`${c.file}[${c.hdu}] ${c.zcmptype} ${c.zquantiz ?? ""}`, c] as const))(
    "%s: every pixel equal",
    (_name, c) => {
      const buf = readFileSync(join(DIR, c.file));
      const want = expectedPixels(c);
      const out = c.float32 ? new Float32Array(c.width * c.height) : new Float64Array(c.width * c.height);
      const img = readCompressedImage(buf, c.hdu, out);
      expect([img.width, img.height]).toEqual([c.width, c.height]);
      const i = firstDiff(img.data, want);
      expect(
        i,
        i < 0
          ? ""
          : `pixel ${i} (x ${i % c.width}, y ${Math.floor(i / c.width)}): ${img.data[i]} vs ${want[i]}`,
      ).toBe(-1);
      expect(Array.from(img.data).filter(Number.isNaN).length).toBe(c.nan);
    },
  );

  it("the uncompressed-equivalent header has the image's keywords and WCS, not the table's", () => {
    const img = readCompressedImage(readFileSync(join(DIR, "int16_rice.fits")), 1);
    const h = img.header;
    expect(h.cards[0]).toMatchObject({ key: "XTENSION", value: "IMAGE" });
    expect([h.get("BITPIX"), h.get("NAXIS"), h.get("NAXIS1"), h.get("NAXIS2")]).toEqual([16, 2, 61, 47]);
    for (const k of [
      "ZIMAGE",
      "ZCMPTYPE",
      "ZBITPIX",
      "TFORM1",
      "TTYPE1",
      "TFIELDS",
      "ZTILE1",
      "ZNAME1",
      "EXTNAME",
    ])
      expect(h.has(k), k).toBe(false);
    expect(h.get("FILTER")).toBe("K");
    const wcs = parseWcs(h);
    const p = wcs.worldToPixel(150, 2);
    expect(p.x).toBeCloseTo(30, 9);
    expect(p.y).toBeCloseTo(23, 9);
  });

  it("a multi-extension file keeps each detector's EXTNAME", () => {
    const buf = readFileSync(join(DIR, "mef.fits"));
    expect(readCompressedImage(buf, 1).header.get("EXTNAME")).toBe("DET1");
    expect(readCompressedImage(buf, 2).header.get("EXTNAME")).toBe("DET2");
  });
});

describe("tile-compressed images that vocut refuses", () => {
  it.each([
    ["int16_plio.fits", "PLIO_1"],
    ["int16_hcompress.fits", "HCOMPRESS_1"],
  ])("%s: UNSUPPORTED naming the HDU and %s", (file, cmp) => {
    const buf = readFileSync(join(DIR, file));
    let err: unknown;
    try {
      readCompressedImage(buf, 1);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FitsError);
    expect((err as FitsError).code).toBe("UNSUPPORTED");
    expect((err as FitsError).message).toContain(`HDU 1 (ZCMPTYPE = '${cmp}')`);
  });
});

/** A hand-built tile-compressed HDU: header (BINTABLE with ZIMAGE = T) and data unit (rows + heap). */
function build(opts: {
  cmp: string;
  zbitpix: number;
  axes: number[];
  tile: number[];
  tiles: Buffer[];
  cards?: Card[];
  rows?: number;
}): { header: FitsHeader; data: Buffer } {
  const heap = Buffer.concat(opts.tiles);
  const nRows = opts.rows ?? opts.tiles.length;
  const rows = Buffer.alloc(8 * nRows);
  let at = 0;
  opts.tiles.forEach((t, i) => {
    if (i >= nRows) return;
    rows.writeInt32BE(t.length, 8 * i);
    rows.writeInt32BE(at, 8 * i + 4);
    at += t.length;
  });
  const cards: Card[] = [
    { key: "XTENSION", value: "BINTABLE" },
    { key: "BITPIX", value: 8 },
    { key: "NAXIS", value: 2 },
    { key: "NAXIS1", value: 8 },
    { key: "NAXIS2", value: nRows },
    { key: "PCOUNT", value: heap.length },
    { key: "GCOUNT", value: 1 },
    { key: "TFIELDS", value: 1 },
    { key: "TTYPE1", value: "COMPRESSED_DATA" },
    { key: "TFORM1", value: "1PB" },
    { key: "ZIMAGE", value: true },
    { key: "ZBITPIX", value: opts.zbitpix },
    { key: "ZNAXIS", value: opts.axes.length },
    ...opts.axes.map((a, i) => ({ key: `ZNAXIS${i + 1}`, value: a })),
    ...opts.tile.map((a, i) => ({ key: `ZTILE${i + 1}`, value: a })),
    { key: "ZCMPTYPE", value: opts.cmp },
    ...(opts.cards ?? []),
  ];
  return { header: parseHeader(encodeHeader(cards), 0).header, data: Buffer.concat([rows, heap]) };
}

function int16be(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => {
    b.writeInt16BE(v, i * 2);
  });
  return b;
}

function fitsError(f: () => unknown): FitsError {
  try {
    f();
  } catch (e) {
    if (e instanceof FitsError) return e;
    throw e;
  }
  throw new Error("no error thrown");
}

describe("hand-built tiles", () => {
  // A 3 x 3 image in 2 x 2 tiles: partial tiles on the right and at the top.
  const values = [1, -2, 3, 400, -500, 600, 32767, -32768, 0];
  const tileValues = [[1, -2, 400, -500], [3, 600], [32767, -32768], [0]];

  it("NOCOMPRESS: tiles stored as they are", () => {
    const { header, data } = build({
      cmp: "NOCOMPRESS",
      zbitpix: 16,
      axes: [3, 3],
      tile: [2, 2],
      tiles: tileValues.map(int16be),
    });
    expect(Array.from(decompressImage(header, data, 1).data)).toEqual(values);
  });

  it("GZIP_1 and GZIP_2 (byte-shuffled), with BSCALE/BZERO and ZBLANK", () => {
    const shuffle = (b: Buffer): Buffer => {
      const n = b.length / 2;
      const o = Buffer.alloc(b.length);
      for (let i = 0; i < n; i++) {
        o[i] = b[2 * i] as number;
        o[n + i] = b[2 * i + 1] as number;
      }
      return o;
    };
    const cards: Card[] = [
      { key: "BSCALE", value: 2 },
      { key: "BZERO", value: 10 },
      { key: "ZBLANK", value: 0 },
    ];
    const want = values.map((v) => (v === 0 ? Number.NaN : v * 2 + 10));
    for (const [cmp, f] of [
      ["GZIP_1", (b: Buffer) => b],
      ["GZIP_2", shuffle],
    ] as const) {
      const tiles = tileValues.map((t) => gzipSync(f(int16be(t))));
      const { header, data } = build({ cmp, zbitpix: 16, axes: [3, 3], tile: [2, 2], tiles, cards });
      expect(Array.from(decompressImage(header, data, 1).data), cmp).toEqual(want);
    }
  });

  it("a gzip bomb is cut at the tile's size, not inflated", () => {
    const bomb = gzipSync(Buffer.alloc(50_000_000));
    const { header, data } = build({
      cmp: "GZIP_1",
      zbitpix: 16,
      axes: [16, 16],
      tile: [16, 16],
      tiles: [bomb],
    });
    const e = fitsError(() => decompressImage(header, data, 3));
    expect(e.code).toBe("BAD_HEADER");
    expect(e.message).toMatch(
      /HDU 3 \(ZCMPTYPE = 'GZIP_1'\) tile 1: inflates to more than the tile's 512 bytes/,
    );
  });

  it("a gzip tile of the wrong size, or not gzip at all", () => {
    let { header, data } = build({
      cmp: "GZIP_1",
      zbitpix: 16,
      axes: [16, 16],
      tile: [16, 16],
      tiles: [gzipSync(Buffer.alloc(100))],
    });
    expect(fitsError(() => decompressImage(header, data, 1)).message).toMatch(
      /inflates to 100 bytes, the tile needs 512/,
    );
    ({ header, data } = build({
      cmp: "GZIP_1",
      zbitpix: 16,
      axes: [4, 4],
      tile: [4, 4],
      tiles: [Buffer.from("garbage!")],
    }));
    expect(fitsError(() => decompressImage(header, data, 1)).message).toMatch(/gzip stream is broken/);
  });

  it("a few bytes claiming a 30000 x 30000 image are refused before anything is allocated", () => {
    for (const cmp of ["RICE_1", "GZIP_1", "NOCOMPRESS"]) {
      const { header, data } = build({
        cmp,
        zbitpix: 16,
        axes: [30000, 30000],
        tile: [30000, 30000],
        tiles: [Buffer.from([0, 0, 0, 0, 0, 0])],
      });
      expect(fitsError(() => decompressImage(header, data, 1)).message, cmp).toMatch(
        /cannot hold 900000000 pixels/,
      );
    }
  });

  it("3-D images, unknown algorithms, wrong row counts", () => {
    let b = build({ cmp: "RICE_1", zbitpix: 16, axes: [4, 4, 3], tile: [4, 4, 1], tiles: [] });
    let e = fitsError(() => decompressImage(b.header, b.data, 2));
    expect([e.code, e.message]).toEqual([
      "UNSUPPORTED",
      "HDU 2 (ZCMPTYPE = 'RICE_1'): a 3-D compressed image (4 x 4 x 3) is not supported, only 2-D",
    ]);
    b = build({ cmp: "LZW_9", zbitpix: 16, axes: [4, 4], tile: [4, 4], tiles: [Buffer.alloc(4)] });
    e = fitsError(() => decompressImage(b.header, b.data, 1));
    expect(e.code).toBe("UNSUPPORTED");
    expect(e.message).toContain("ZCMPTYPE = 'LZW_9'");
    b = build({ cmp: "NOCOMPRESS", zbitpix: 16, axes: [4, 4], tile: [2, 2], tiles: [Buffer.alloc(8)] });
    expect(fitsError(() => decompressImage(b.header, b.data, 1)).message).toMatch(/1 table rows for 4 tiles/);
  });
});

/** Per-row cells of a hand-built compressed table: variable-length byte arrays (P) or one fixed value. */
type Column =
  | { name: string; tform: `1P${"B" | "E" | "J"}`; cells: Buffer[] }
  | { name: string; tform: "1D" | "1J"; cells: number[] };

/** A tile-compressed table with any columns (fallback columns, per-tile ZSCALE/ZZERO/ZBLANK). */
function buildTable(cards: Card[], columns: Column[], nRows: number): { header: FitsHeader; data: Buffer } {
  const heapParts: Buffer[] = [];
  let heapAt = 0;
  const rowBytes = columns.reduce((a, c) => a + (c.tform.startsWith("1P") ? 8 : c.tform === "1D" ? 8 : 4), 0);
  const rows = Buffer.alloc(rowBytes * nRows);
  for (let r = 0; r < nRows; r++) {
    let o = r * rowBytes;
    for (const c of columns) {
      if (c.tform.startsWith("1P")) {
        const cell = c.cells[r] as Buffer;
        const size = c.tform === "1PB" ? 1 : 4;
        rows.writeInt32BE(cell.length / size, o);
        rows.writeInt32BE(heapAt, o + 4);
        heapParts.push(cell);
        heapAt += cell.length;
        o += 8;
      } else if (c.tform === "1D") {
        rows.writeDoubleBE(c.cells[r] as number, o);
        o += 8;
      } else {
        rows.writeInt32BE(c.cells[r] as number, o);
        o += 4;
      }
    }
  }
  const all: Card[] = [
    { key: "XTENSION", value: "BINTABLE" },
    { key: "BITPIX", value: 8 },
    { key: "NAXIS", value: 2 },
    { key: "NAXIS1", value: rowBytes },
    { key: "NAXIS2", value: nRows },
    { key: "PCOUNT", value: heapAt },
    { key: "GCOUNT", value: 1 },
    { key: "TFIELDS", value: columns.length },
    ...columns.flatMap((c, i) => [
      { key: `TTYPE${i + 1}`, value: c.name },
      { key: `TFORM${i + 1}`, value: c.tform },
    ]),
    { key: "ZIMAGE", value: true },
    ...cards,
  ];
  return { header: parseHeader(encodeHeader(all), 0).header, data: Buffer.concat([rows, ...heapParts]) };
}

describe("quantized tiles with per-tile columns and an UNCOMPRESSED_DATA fallback", () => {
  it("NOCOMPRESS int32 tiles, ZSCALE/ZZERO/ZBLANK columns, a float tile stored as it is", () => {
    const int32be = (v: number[]): Buffer => {
      const b = Buffer.alloc(4 * v.length);
      v.forEach((x, i) => {
        b.writeInt32BE(x, 4 * i);
      });
      return b;
    };
    const float32be = (v: number[]): Buffer => {
      const b = Buffer.alloc(4 * v.length);
      v.forEach((x, i) => {
        b.writeFloatBE(x, 4 * i);
      });
      return b;
    };
    // 3 x 2 image, tiles of 2 x 2: tile 1 is x 0-1 (quantized), tile 2 is x 2 (stored as floats).
    const { header, data } = buildTable(
      [
        { key: "ZBITPIX", value: -32 },
        { key: "ZNAXIS", value: 2 },
        { key: "ZNAXIS1", value: 3 },
        { key: "ZNAXIS2", value: 2 },
        { key: "ZTILE1", value: 2 },
        { key: "ZTILE2", value: 2 },
        { key: "ZCMPTYPE", value: "NOCOMPRESS" },
        { key: "ZQUANTIZ", value: "NO_DITHER" },
      ],
      [
        { name: "COMPRESSED_DATA", tform: "1PB", cells: [int32be([10, -7, 99, 12]), Buffer.alloc(0)] },
        { name: "UNCOMPRESSED_DATA", tform: "1PE", cells: [Buffer.alloc(0), float32be([1.5, -2.25])] },
        { name: "ZSCALE", tform: "1D", cells: [0.5, 1] },
        { name: "ZZERO", tform: "1D", cells: [100, 0] },
        { name: "ZBLANK", tform: "1J", cells: [99, -2147483647] },
      ],
      2,
    );
    const img = decompressImage(header, data, 1);
    // Row y = 0: 10 * 0.5 + 100, -7 * 0.5 + 100, 1.5; row y = 1: ZBLANK -> NaN, 12 * 0.5 + 100, -2.25.
    expect(Array.from(img.data)).toEqual([105, 96.5, 1.5, Number.NaN, 106, -2.25]);
  });
});

describe("hostile bytes in a real RICE_1 file", () => {
  const buf = readFileSync(join(DIR, "int16_rice.fits"));
  const hdu = listHdus(buf)[1];
  if (hdu === undefined) throw new Error("fixture");
  const data = (): Buffer => Buffer.from(buf.subarray(hdu.dataOffset, hdu.dataOffset + hdu.dataBytes));

  it("a descriptor pointing outside the heap", () => {
    const d = data();
    d.writeInt32BE(1_000_000, 3 * 8 + 4);
    const e = fitsError(() => decompressImage(hdu.header, d, 1));
    expect(e.code).toBe("TRUNCATED");
    expect(e.message).toMatch(
      /tile 4: COMPRESSED_DATA descriptor \(\d+ elements at heap byte 1000000\) points outside/,
    );
  });

  it("a truncated heap", () => {
    const d = data();
    const e = fitsError(() => decompressImage(hdu.header, d.subarray(0, d.length - 300), 1));
    expect(e.code).toBe("TRUNCATED");
  });

  it("a Rice stream that runs out of bits", () => {
    const d = data();
    d.writeInt32BE(40, 0); // tile 1: 40 of its bytes
    const e = fitsError(() => decompressImage(hdu.header, d, 1));
    expect(e.code).toBe("TRUNCATED");
    expect(e.message).toMatch(/tile 1: the Rice stream ends before the tile's 256 pixels/);
  });

  it("random byte flips in the heap give pixels or a FitsError, nothing else", () => {
    const theap = 8 * 12;
    let seed = 12345;
    const rand = (): number => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    let errors = 0;
    for (let k = 0; k < 300; k++) {
      const d = data();
      for (let j = 0; j < 1 + Math.floor(rand() * 4); j++) {
        const at = theap + Math.floor(rand() * (d.length - theap));
        d[at] = Math.floor(rand() * 256);
      }
      try {
        decompressImage(hdu.header, d, 1);
      } catch (e) {
        expect(e).toBeInstanceOf(FitsError);
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(0);
  });
});
