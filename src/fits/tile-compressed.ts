import { gunzipSync, inflateSync } from "node:zlib";
import { type BinColumn, decodeCell, parseBinTableLayout } from "./bintable.js";
import { FitsError } from "./errors.js";
import { listHdus } from "./hdu.js";
import { type Card, FitsHeader } from "./header.js";

/**
 * Tile-compressed images (FITS 4.0 sec. 10; what fpack and astropy's CompImageHDU write): a BINTABLE with
 * ZIMAGE = T whose rows are the tiles of an image, each tile compressed on its own (RICE_1, GZIP_1, GZIP_2,
 * NOCOMPRESS here; PLIO_1 and HCOMPRESS_1 are refused), float images optionally quantized to integers with a
 * per-tile ZSCALE/ZZERO and subtractive dithering. Written from the standard's description; checked pixel for
 * pixel against astropy (fixtures/fits/make_tile_compressed.py).
 */

/** Compression algorithms this module decodes. */
export type TileCompression = "RICE_1" | "GZIP_1" | "GZIP_2" | "NOCOMPRESS";
/** ZQUANTIZ values, plus NONE for floats stored losslessly. */
export type Quantize = "NO_DITHER" | "SUBTRACTIVE_DITHER_1" | "SUBTRACTIVE_DITHER_2" | "NONE";

/** The parameters of a tile-compressed image HDU, from its header alone. */
export interface TileParams {
  readonly hdu: number;
  readonly compression: TileCompression;
  /** ZBITPIX: the uncompressed image's BITPIX. */
  readonly bitpix: 8 | 16 | 32 | 64 | -32 | -64;
  readonly width: number;
  readonly height: number;
  readonly tileWidth: number;
  readonly tileHeight: number;
  /** RICE_1 BLOCKSIZE (ZNAMEi/ZVALi), default 32. */
  readonly blockSize: number;
  /** RICE_1 BYTEPIX, default 4. */
  readonly bytePix: 1 | 2 | 4;
  /** ZQUANTIZ for float images ("NONE": floats compressed as they are), "NONE" for integers. */
  readonly quantize: Quantize;
  /** ZDITHER0, default 1. */
  readonly ditherSeed: number;
}

/** True for a BINTABLE header that holds a tile-compressed image (ZIMAGE = T). */
export function isTileCompressed(header: FitsHeader): boolean {
  return header.get("XTENSION") === "BINTABLE" && header.get("ZIMAGE") === true;
}

const INT_BITPIX = new Set([8, 16, 32, 64, -32, -64]);
/** Largest image decoded (pixels): 2^30, 4 GB as float32. */
const MAX_PIXELS = 2 ** 30;
/** The special quantized value of SUBTRACTIVE_DITHER_2 that stands for an exact 0.0. */
const DITHER2_ZERO = -2147483646;
/** Deflate cannot expand more than ~1032:1; a tile claiming more is hostile. */
const MAX_INFLATE_RATIO = 1100;

function where(hdu: number, header: FitsHeader): string {
  const t = header.getString("ZCMPTYPE")?.trim();
  return t === undefined ? `HDU ${hdu}` : `HDU ${hdu} (ZCMPTYPE = '${t}')`;
}

function zint(header: FitsHeader, key: string, hdu: number, min: number, fallback?: number): number {
  const v = header.get(key);
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
    throw new FitsError(
      "BAD_HEADER",
      `${where(hdu, header)}: ${key} must be an integer >= ${min}, got ${v === undefined ? "nothing" : String(v)}`,
    );
  }
  return v;
}

/** ZNAMEi = name -> ZVALi, the algorithm parameters. */
function zparams(header: FitsHeader): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (let i = 1; i < 1000; i++) {
    const name = header.get(`ZNAME${i}`);
    if (name === undefined) break;
    out.set(String(name).trim().toUpperCase(), header.get(`ZVAL${i}`));
  }
  return out;
}

/**
 * Read and check a tile-compressed HDU's parameters. Throws FitsError UNSUPPORTED naming the HDU and ZCMPTYPE
 * for PLIO_1, HCOMPRESS_1, unknown algorithms and images of more than two (non-degenerate) axes, BAD_HEADER for
 * missing or impossible keywords.
 */
export function tileParams(header: FitsHeader, hdu: number): TileParams {
  if (!isTileCompressed(header))
    throw new FitsError("BAD_HEADER", `HDU ${hdu} is not a tile-compressed image`);
  const cmp = header.getString("ZCMPTYPE")?.trim().toUpperCase();
  if (cmp === undefined)
    throw new FitsError("BAD_HEADER", `HDU ${hdu}: tile-compressed image without ZCMPTYPE`);
  const compression = cmp === "RICE_ONE" ? "RICE_1" : cmp;
  if (
    compression !== "RICE_1" &&
    compression !== "GZIP_1" &&
    compression !== "GZIP_2" &&
    compression !== "NOCOMPRESS"
  ) {
    throw new FitsError(
      "UNSUPPORTED",
      `${where(hdu, header)}: this tile compression is not supported (vocut reads RICE_1, GZIP_1, GZIP_2 and NOCOMPRESS; ` +
        "decompress the file with funpack or astropy first)",
    );
  }
  const bitpix = zint(header, "ZBITPIX", hdu, -64);
  if (!INT_BITPIX.has(bitpix))
    throw new FitsError("BAD_HEADER", `${where(hdu, header)}: ZBITPIX = ${bitpix} is not valid`);
  const naxis = zint(header, "ZNAXIS", hdu, 1);
  const axes: number[] = [];
  for (let i = 1; i <= naxis; i++) axes.push(zint(header, `ZNAXIS${i}`, hdu, 0));
  if (naxis < 2 || axes.slice(2).some((a) => a !== 1)) {
    throw new FitsError(
      "UNSUPPORTED",
      `${where(hdu, header)}: a ${naxis}-D compressed image (${axes.join(" x ")}) is not supported, only 2-D`,
    );
  }
  const width = axes[0] as number;
  const height = axes[1] as number;
  if (width * height > MAX_PIXELS)
    throw new FitsError(
      "UNSUPPORTED",
      `${where(hdu, header)}: ${width} x ${height} pixels is more than vocut decodes`,
    );
  const tileWidth = Math.min(zint(header, "ZTILE1", hdu, 1, width), Math.max(width, 1));
  const tileHeight = Math.min(zint(header, "ZTILE2", hdu, 1, 1), Math.max(height, 1));
  for (let i = 3; i <= naxis; i++) {
    if (zint(header, `ZTILE${i}`, hdu, 1, 1) !== 1)
      throw new FitsError("UNSUPPORTED", `${where(hdu, header)}: ZTILE${i} must be 1`);
  }
  const params = zparams(header);
  const blockSize = Number(params.get("BLOCKSIZE") ?? 32);
  // cfitsio and fpack write 16 or 32; a huge block would let a few bytes claim millions of pixels.
  if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > 256)
    throw new FitsError(
      "BAD_HEADER",
      `${where(hdu, header)}: BLOCKSIZE = ${String(blockSize)} is not 1..256`,
    );
  const bytePix = Number(params.get("BYTEPIX") ?? 4);
  if (compression === "RICE_1" && bytePix !== 1 && bytePix !== 2 && bytePix !== 4) {
    throw new FitsError(
      "UNSUPPORTED",
      `${where(hdu, header)}: BYTEPIX = ${String(bytePix)} is not 1, 2 or 4`,
    );
  }
  let quantize: Quantize = "NONE";
  if (bitpix < 0) {
    const q = header.getString("ZQUANTIZ")?.trim().toUpperCase();
    if (q === "NONE") quantize = "NONE";
    else if (q === undefined || q === "NO_DITHER") quantize = "NO_DITHER";
    else if (q === "SUBTRACTIVE_DITHER_1" || q === "SUBTRACTIVE_DITHER_2") quantize = q;
    else throw new FitsError("UNSUPPORTED", `${where(hdu, header)}: ZQUANTIZ = '${q}' is not supported`);
  }
  const ditherSeed = zint(header, "ZDITHER0", hdu, 0, 1);
  return {
    hdu,
    compression,
    bitpix: bitpix as TileParams["bitpix"],
    width,
    height,
    tileWidth,
    tileHeight,
    blockSize,
    bytePix: bytePix as 1 | 2 | 4,
    quantize,
    ditherSeed,
  };
}

/** Table and compression keywords that describe the container, not the image. */
const CONTAINER_KEY =
  /^(XTENSION|BITPIX|NAXIS\d*|PCOUNT|GCOUNT|TFIELDS|THEAP|CHECKSUM|DATASUM|Z[A-Z]*\d*|(TTYPE|TFORM|TUNIT|TDIM|TNULL|TSCAL|TZERO|TDISP|TUCD|TLMIN|TLMAX|TDMIN|TDMAX)\d+)$/;

/**
 * The header of the uncompressed image (FITS 4.0 sec. 10.1.1): SIMPLE or XTENSION = 'IMAGE', BITPIX = ZBITPIX,
 * NAXISn = ZNAXISn, then every other card except the table's and the Z* compression keywords (EXTNAME =
 * 'COMPRESSED_IMAGE', astropy's default name, dropped too). WCS cards are kept, so parseWcs works on it.
 */
export function imageHeaderOf(header: FitsHeader, hdu: number): FitsHeader {
  const naxis = zint(header, "ZNAXIS", hdu, 0);
  const cards: Card[] = [];
  if (header.get("ZSIMPLE") === true) cards.push({ key: "SIMPLE", value: true });
  else cards.push({ key: "XTENSION", value: header.getString("ZTENSION")?.trim() || "IMAGE" });
  cards.push({ key: "BITPIX", value: zint(header, "ZBITPIX", hdu, -64) });
  cards.push({ key: "NAXIS", value: naxis });
  for (let i = 1; i <= naxis; i++)
    cards.push({ key: `NAXIS${i}`, value: zint(header, `ZNAXIS${i}`, hdu, 0) });
  if (header.get("ZSIMPLE") === true) {
    if (header.has("ZEXTEND")) cards.push({ key: "EXTEND", value: header.get("ZEXTEND") ?? null });
  } else {
    cards.push({ key: "PCOUNT", value: 0 }, { key: "GCOUNT", value: 1 });
  }
  for (const c of header.cards) {
    if (c.key === "END" || CONTAINER_KEY.test(c.key)) continue;
    if (c.key === "EXTNAME" && String(c.value).trim() === "COMPRESSED_IMAGE") continue;
    cards.push(c);
  }
  return new FitsHeader(cards);
}

/** A decompressed image. */
export interface DecompressedImage {
  readonly width: number;
  readonly height: number;
  /** The uncompressed-equivalent header ({@link imageHeaderOf}). */
  readonly header: FitsHeader;
  readonly data: Float64Array | Float32Array;
}

/** Where one tile's bytes are. */
interface TileRef {
  readonly start: number;
  readonly bytes: number;
}

const ELEMENT: Record<string, number> = { B: 1, I: 2, J: 4, K: 8, E: 4, D: 8, A: 1, L: 1 };

function descriptor(row: Buffer, col: BinColumn, heapBytes: number, what: string): TileRef {
  const q = col.type === "Q";
  const count = q ? Number(row.readBigInt64BE(col.offset)) : row.readInt32BE(col.offset);
  const start = q ? Number(row.readBigInt64BE(col.offset + 8)) : row.readInt32BE(col.offset + 4);
  const size = ELEMENT[col.arrayType ?? "B"] ?? 1;
  const bytes = count * size;
  if (count < 0 || start < 0 || start + bytes > heapBytes) {
    throw new FitsError(
      "TRUNCATED",
      `${what}: ${col.name} descriptor (${count} elements at heap byte ${start}) points outside the ${heapBytes}-byte heap`,
    );
  }
  return { start, bytes };
}

/** The 10000 single-precision uniform deviates of FITS 4.0 sec. 10.4.1 (Park-Miller, seed 1). */
let RANDOMS: Float32Array | undefined;
function randoms(): Float32Array {
  if (RANDOMS === undefined) {
    const a = 16807;
    const m = 2147483647;
    let seed = 1;
    const r = new Float32Array(10000);
    for (let i = 0; i < r.length; i++) {
      // a * seed < 2^46: exact in a double.
      seed = (a * seed) % m;
      r[i] = seed / m;
    }
    RANDOMS = r;
  }
  return RANDOMS;
}

/**
 * Decompress a tile-compressed image HDU from its data: `data` is the whole data unit (table rows and heap,
 * PCOUNT included), `header` the BINTABLE header. Physical values come out: ZSCALE/ZZERO (with dithering)
 * for quantized floats, BSCALE/BZERO for integers, ZBLANK/BLANK -> NaN. `out` (width x height values, x
 * fastest) may be passed to decode into a Float32Array; otherwise a Float64Array is allocated.
 * Throws FitsError: UNSUPPORTED (see {@link tileParams}), TRUNCATED (a descriptor outside the heap, a tile that
 * runs out of bits), BAD_HEADER (a tile of the wrong size, a bad table).
 */
export function decompressImage(
  header: FitsHeader,
  data: Buffer,
  hdu: number,
  out?: Float64Array | Float32Array,
): DecompressedImage {
  const p = tileParams(header, hdu);
  const what = where(hdu, header);
  const layout = parseBinTableLayout(header);
  const tableBytes = layout.rowBytes * layout.nRows;
  if (tableBytes > data.length)
    throw new FitsError(
      "TRUNCATED",
      `${what}: the table needs ${tableBytes} bytes, the data unit has ${data.length}`,
    );
  const theap = header.getNumber("THEAP") ?? tableBytes;
  if (!Number.isInteger(theap) || theap < tableBytes || theap > data.length)
    throw new FitsError("BAD_HEADER", `${what}: THEAP = ${theap} is outside the data unit`);
  const heap = data.subarray(theap);
  const col = (name: string): BinColumn | undefined =>
    layout.columns.find((c) => c.name.toUpperCase() === name);
  const compressed = col("COMPRESSED_DATA");
  if (compressed === undefined || (compressed.type !== "P" && compressed.type !== "Q"))
    throw new FitsError("BAD_HEADER", `${what}: no variable-length COMPRESSED_DATA column`);
  const gzipCol = col("GZIP_COMPRESSED_DATA");
  const rawCol = col("UNCOMPRESSED_DATA");
  for (const c of [gzipCol, rawCol]) {
    if (c !== undefined && c.type !== "P" && c.type !== "Q")
      throw new FitsError("BAD_HEADER", `${what}: ${c.name} is not a variable-length column`);
  }
  const scaleCol = col("ZSCALE");
  const zeroCol = col("ZZERO");
  const blankCol = col("ZBLANK");
  const tilesX = Math.ceil(p.width / p.tileWidth);
  const tilesY = Math.ceil(p.height / p.tileHeight);
  const nTiles = p.width === 0 || p.height === 0 ? 0 : tilesX * tilesY;
  if (layout.nRows !== nTiles)
    throw new FitsError(
      "BAD_HEADER",
      `${what}: ${layout.nRows} table rows for ${nTiles} tiles of ${p.tileWidth} x ${p.tileHeight}`,
    );
  const float = p.bitpix < 0;
  const bscale = header.getNumber("BSCALE") ?? 1;
  const bzero = header.getNumber("BZERO") ?? 0;
  const kwScale = header.getNumber("ZSCALE");
  const kwZero = header.getNumber("ZZERO");
  const kwBlank = header.getNumber("ZBLANK") ?? (float ? undefined : header.getNumber("BLANK"));
  const quantizedHdu = float && p.quantize !== "NONE" && (scaleCol !== undefined || kwScale !== undefined);
  // First pass, before anything is allocated: every descriptor inside the heap, every tile's bytes able to
  // hold its pixels (so that a small file cannot make us allocate a huge image).
  const refs: Array<{ main: TileRef; gzip?: TileRef; raw?: TileRef }> = [];
  for (let t = 0; t < nTiles; t++) {
    const row = data.subarray(t * layout.rowBytes, (t + 1) * layout.rowBytes);
    const label = `${what} tile ${t + 1}`;
    const { tw, th } = tileBox(p, t, tilesX);
    const count = tw * th;
    const main = descriptor(row, compressed, heap.length, label);
    const ref: { main: TileRef; gzip?: TileRef; raw?: TileRef } = { main };
    if (gzipCol !== undefined) ref.gzip = descriptor(row, gzipCol, heap.length, label);
    if (rawCol !== undefined) ref.raw = descriptor(row, rawCol, heap.length, label);
    const elem = Math.abs(p.bitpix) / 8;
    let room: number;
    if (main.bytes > 0) room = capacity(p.compression, p, main.bytes, quantizedHdu ? 4 : elem);
    else if (ref.gzip !== undefined && ref.gzip.bytes > 0) room = capacity("GZIP_1", p, ref.gzip.bytes, elem);
    else if (ref.raw !== undefined && ref.raw.bytes > 0)
      room = ref.raw.bytes / (ELEMENT[rawCol?.arrayType ?? "B"] ?? 1);
    else room = 0;
    if (count > room)
      throw new FitsError("BAD_HEADER", `${label}: its compressed bytes cannot hold ${count} pixels`);
    refs.push(ref);
  }
  const n = p.width * p.height;
  const target = out ?? new Float64Array(n);
  if (target.length !== n) throw new TypeError(`out has ${target.length} values, the image ${n}`);
  const tilePix = new Float64Array(Math.min(p.tileWidth * p.tileHeight, n));
  const rnd = randoms();
  for (let t = 0; t < nTiles; t++) {
    const row = data.subarray(t * layout.rowBytes, (t + 1) * layout.rowBytes);
    const { x0, y0, tw, th } = tileBox(p, t, tilesX);
    const count = tw * th;
    const label = `${what} tile ${t + 1}`;
    const pix = tilePix.subarray(0, count);
    const { main, gzip: g, raw: r } = refs[t] as { main: TileRef; gzip?: TileRef; raw?: TileRef };
    const cell = (c: BinColumn | undefined, kw: number | undefined): number | undefined => {
      if (c === undefined) return kw;
      const v = decodeCell(row, c);
      const x = Array.isArray(v) ? v[0] : v;
      return typeof x === "number" ? x : typeof x === "bigint" ? Number(x) : kw;
    };
    let quantized = false;
    if (main.bytes > 0) {
      quantized = quantizedHdu;
      const elem = quantized ? 4 : Math.abs(p.bitpix) / 8;
      decodeTile(
        p,
        heap.subarray(main.start, main.start + main.bytes),
        count,
        elem,
        quantized || !float,
        pix,
        label,
      );
    } else {
      // A tile that could not be quantized (or compressed) is stored losslessly in a fallback column.
      const elem = Math.abs(p.bitpix) / 8;
      if (g !== undefined && g.bytes > 0) {
        const bytes = inflateTile(heap.subarray(g.start, g.start + g.bytes), count * elem, label);
        readElements(bytes, elem, float, pix);
      } else if (r !== undefined && r.bytes > 0 && rawCol !== undefined) {
        readUncompressed(
          heap.subarray(r.start, r.start + r.bytes),
          rawCol.arrayType ?? "B",
          count,
          pix,
          label,
        );
      } else if (count > 0) {
        throw new FitsError("BAD_HEADER", `${label}: no data in COMPRESSED_DATA or a fallback column`);
      }
    }
    // Back to physical values, into the image.
    if (quantized) {
      const scale = cell(scaleCol, kwScale);
      const zero = cell(zeroCol, kwZero);
      if (scale === undefined || zero === undefined)
        throw new FitsError("BAD_HEADER", `${label}: quantized tile without ZSCALE/ZZERO`);
      const blank = cell(blankCol, kwBlank) ?? Number.NaN;
      const seed = (((t + p.ditherSeed - 1) % 10000) + 10000) % 10000;
      unquantize(pix, scale, zero, blank, p.quantize, seed, rnd);
    } else if (!float) {
      unscale(pix, bscale, bzero, cell(blankCol, kwBlank) ?? Number.NaN);
    }
    place(pix, target, p.width, x0, y0, tw, th);
  }
  return { width: p.width, height: p.height, header: imageHeaderOf(header, hdu), data: target };
}

/**
 * Quantized integers back to floats (FITS 4.0 sec. 10.2): q * ZSCALE + ZZERO, or with subtractive dithering
 * (q - r + 0.5) * ZSCALE + ZZERO where r runs through the random table from an offset set by the tile's seed,
 * one value per pixel (blank ones included); ZBLANK -> NaN; DITHER_2's zero code -> 0.0 exactly. Kept apart
 * from decompressImage so that V8 optimises the loop on its own.
 */
function unquantize(
  pix: Float64Array,
  scale: number,
  zero: number,
  blank: number,
  mode: Quantize,
  seed: number,
  rnd: Float32Array,
): void {
  const n = pix.length;
  if (mode === "NO_DITHER" || mode === "NONE") {
    for (let i = 0; i < n; i++) {
      const q = pix[i] as number;
      pix[i] = q === blank ? Number.NaN : q * scale + zero;
    }
    return;
  }
  const zeroCode = mode === "SUBTRACTIVE_DITHER_2" ? DITHER2_ZERO : Number.NaN;
  let iseed = seed;
  let next = Math.floor((rnd[iseed] as number) * 500);
  for (let i = 0; i < n; i++) {
    const q = pix[i] as number;
    if (q === blank) pix[i] = Number.NaN;
    else if (q === zeroCode) pix[i] = 0;
    else pix[i] = (q - (rnd[next] as number) + 0.5) * scale + zero;
    if (++next === 10000) {
      iseed = iseed === 9999 ? 0 : iseed + 1;
      next = Math.floor((rnd[iseed] as number) * 500);
    }
  }
}

/** Stored integers to physical values: BLANK -> NaN, else q * BSCALE + BZERO. */
function unscale(pix: Float64Array, bscale: number, bzero: number, blank: number): void {
  for (let i = 0; i < pix.length; i++) {
    const q = pix[i] as number;
    pix[i] = q === blank ? Number.NaN : q * bscale + bzero;
  }
}

/** Copy a decoded tile (tw x th, x fastest) into the image at (x0, y0). */
function place(
  pix: Float64Array,
  target: Float64Array | Float32Array,
  width: number,
  x0: number,
  y0: number,
  tw: number,
  th: number,
): void {
  for (let y = 0; y < th; y++) target.set(pix.subarray(y * tw, (y + 1) * tw), (y0 + y) * width + x0);
}

/** Tile `t`'s place in the image (tiles in rows, x fastest; the last ones of a row or column may be partial). */
function tileBox(
  p: TileParams,
  t: number,
  tilesX: number,
): { x0: number; y0: number; tw: number; th: number } {
  const x0 = (t % tilesX) * p.tileWidth;
  const y0 = Math.floor(t / tilesX) * p.tileHeight;
  return { x0, y0, tw: Math.min(p.tileWidth, p.width - x0), th: Math.min(p.tileHeight, p.height - y0) };
}

/** The most pixels `bytes` compressed bytes can hold (an upper bound). */
function capacity(c: TileCompression, p: TileParams, bytes: number, elem: number): number {
  switch (c) {
    case "RICE_1": {
      // At least one block code of 3-5 bits per block, after the first value.
      const fsBits = p.bytePix === 1 ? 3 : p.bytePix === 2 ? 4 : 5;
      return Math.max(0, Math.floor(((bytes - p.bytePix) * 8) / fsBits)) * p.blockSize;
    }
    case "GZIP_1":
    case "GZIP_2":
      return Math.floor((bytes * MAX_INFLATE_RATIO + 1024) / elem);
    case "NOCOMPRESS":
      return Math.floor(bytes / elem);
  }
}

/** gunzip (or zlib-inflate) one tile to exactly `expected` bytes; more output is refused, not allocated. */
function inflateTile(src: Buffer, expected: number, label: string): Buffer {
  if (expected > src.length * MAX_INFLATE_RATIO + 1024)
    throw new FitsError("BAD_HEADER", `${label}: ${src.length} gzip bytes cannot hold ${expected} bytes`);
  let outBuf: Buffer;
  try {
    const opts = { maxOutputLength: Math.max(expected, 1) };
    outBuf = src[0] === 0x1f && src[1] === 0x8b ? gunzipSync(src, opts) : inflateSync(src, opts);
  } catch (err) {
    const code = (err as { code?: string }).code;
    const msg =
      code === "ERR_BUFFER_TOO_LARGE"
        ? `inflates to more than the tile's ${expected} bytes`
        : `gzip stream is broken (${(err as Error).message})`;
    throw new FitsError("BAD_HEADER", `${label}: ${msg}`, { cause: err });
  }
  if (outBuf.length !== expected)
    throw new FitsError(
      "BAD_HEADER",
      `${label}: inflates to ${outBuf.length} bytes, the tile needs ${expected}`,
    );
  return outBuf;
}

/** Big-endian elements of `elem` bytes (integers, or IEEE floats when `float`) into `pix`. */
function readElements(bytes: Buffer, elem: number, float: boolean, pix: Float64Array): void {
  const n = pix.length;
  if (float) {
    if (elem === 4) for (let i = 0; i < n; i++) pix[i] = bytes.readFloatBE(i * 4);
    else for (let i = 0; i < n; i++) pix[i] = bytes.readDoubleBE(i * 8);
    return;
  }
  switch (elem) {
    case 1:
      for (let i = 0; i < n; i++) pix[i] = bytes[i] as number;
      break;
    case 2:
      for (let i = 0; i < n; i++) pix[i] = bytes.readInt16BE(i * 2);
      break;
    case 4:
      for (let i = 0; i < n; i++) pix[i] = bytes.readInt32BE(i * 4);
      break;
    default:
      for (let i = 0; i < n; i++) pix[i] = Number(bytes.readBigInt64BE(i * 8));
  }
}

function readUncompressed(
  bytes: Buffer,
  type: string,
  count: number,
  pix: Float64Array,
  label: string,
): void {
  const size = ELEMENT[type] ?? 1;
  if (bytes.length !== count * size)
    throw new FitsError(
      "BAD_HEADER",
      `${label}: UNCOMPRESSED_DATA has ${bytes.length / size} values, the tile ${count}`,
    );
  if (type === "E" || type === "D") readElements(bytes, size, true, pix);
  else if (type === "B" || type === "I" || type === "J" || type === "K")
    readElements(bytes, size, false, pix);
  else throw new FitsError("BAD_HEADER", `${label}: UNCOMPRESSED_DATA of type ${type}`);
}

/** Undo GZIP_2's byte shuffle: all first bytes of the elements, then all second bytes, ... */
function unshuffle(bytes: Buffer, elem: number): Buffer {
  if (elem === 1) return bytes;
  const n = bytes.length / elem;
  const outBuf = Buffer.allocUnsafe(bytes.length);
  for (let k = 0; k < elem; k++) {
    const from = k * n;
    for (let i = 0; i < n; i++) outBuf[i * elem + k] = bytes[from + i] as number;
  }
  return outBuf;
}

/** Decode one tile's COMPRESSED_DATA into `count` stored values (integers, or floats for lossless floats). */
function decodeTile(
  p: TileParams,
  src: Buffer,
  count: number,
  elem: number,
  integers: boolean,
  pix: Float64Array,
  label: string,
): void {
  switch (p.compression) {
    case "RICE_1":
      if (!integers) throw new FitsError("BAD_HEADER", `${label}: RICE_1 tile of unquantized floats`);
      riceDecode(src, count, p.blockSize, p.bytePix, pix, label);
      return;
    case "GZIP_1":
    case "GZIP_2": {
      let bytes = inflateTile(src, count * elem, label);
      if (p.compression === "GZIP_2") bytes = unshuffle(bytes, elem);
      readElements(bytes, elem, !integers, pix);
      return;
    }
    case "NOCOMPRESS":
      if (src.length !== count * elem)
        throw new FitsError("BAD_HEADER", `${label}: ${src.length} bytes, the tile needs ${count * elem}`);
      readElements(src, elem, !integers, pix);
  }
}

/** Significant bits of 0..255. */
const BITS = new Uint8Array(256);
for (let i = 1; i < 256; i++) BITS[i] = 32 - Math.clz32(i);

/**
 * Rice decoding (FITS 4.0 sec. 10.4.1; White & Becker): the first value verbatim in `bytePix` bytes, then blocks
 * of `blockSize` differences, each block led by a code: 0 means all differences are zero, the maximum means
 * differences stored verbatim, otherwise k = code - 1 and each difference is a unary quotient and k low bits.
 * Differences are zig-zag mapped (even: +d/2, odd: -(d+1)/2) and wrap at the pixel width.
 */
export function riceDecode(
  src: Buffer,
  count: number,
  blockSize: number,
  bytePix: 1 | 2 | 4,
  pix: Float64Array,
  label = "RICE_1 tile",
): void {
  if (count === 0) return;
  const fsBits = bytePix === 1 ? 3 : bytePix === 2 ? 4 : 5;
  const fsMax = bytePix === 1 ? 6 : bytePix === 2 ? 14 : 25;
  const bBits = bytePix * 8;
  const len = src.length;
  // Every block needs at least its code: a small buffer cannot hold a large tile.
  if (len < bytePix || (len - bytePix) * 8 < Math.ceil(count / blockSize) * fsBits)
    throw new FitsError("TRUNCATED", `${label}: ${len} Rice bytes cannot hold ${count} pixels`);
  const ranOut = (): FitsError =>
    new FitsError("TRUNCATED", `${label}: the Rice stream ends before the tile's ${count} pixels`);
  let last = 0;
  for (let i = 0; i < bytePix; i++) last = last * 256 + (src[i] as number);
  last = bytePix === 4 ? last | 0 : bytePix === 2 ? (last << 16) >> 16 : last;
  let pos = bytePix;
  let b = src[pos++] as number;
  let nbits = 8;
  for (let i = 0; i < count; ) {
    const end = Math.min(i + blockSize, count);
    // The block's code, fsBits bits.
    nbits -= fsBits;
    while (nbits < 0) {
      if (pos >= len) throw ranOut();
      b = (b << 8) | (src[pos++] as number);
      nbits += 8;
    }
    const fs = (b >>> nbits) - 1;
    b &= (1 << nbits) - 1;
    if (fs > fsMax) throw new FitsError("BAD_HEADER", `${label}: Rice block code ${fs + 1} is out of range`);
    if (fs < 0) {
      for (; i < end; i++) pix[i] = last;
      continue;
    }
    for (; i < end; i++) {
      let diff: number;
      if (fs === fsMax) {
        // Verbatim: bBits bits.
        let v = 0;
        let need = bBits;
        while (need > 0) {
          if (nbits === 0) {
            if (pos >= len) throw ranOut();
            b = src[pos++] as number;
            nbits = 8;
          }
          const take = Math.min(need, nbits);
          nbits -= take;
          v = v * 2 ** take + (b >>> nbits);
          b &= (1 << nbits) - 1;
          need -= take;
        }
        diff = v >>> 0;
      } else {
        // Unary quotient: count zero bits up to the next 1.
        while (b === 0) {
          if (pos >= len) throw ranOut();
          nbits += 8;
          b = src[pos++] as number;
        }
        const zeros = nbits - (BITS[b] as number);
        nbits -= zeros + 1;
        b ^= 1 << nbits;
        nbits -= fs;
        while (nbits < 0) {
          if (pos >= len) throw ranOut();
          b = (b << 8) | (src[pos++] as number);
          nbits += 8;
        }
        diff = ((zeros << fs) | (b >>> nbits)) >>> 0;
        b &= (1 << nbits) - 1;
      }
      const d = diff & 1 ? ~(diff >>> 1) : diff >>> 1;
      const v = d + last;
      last = bytePix === 4 ? v | 0 : bytePix === 2 ? (v << 16) >> 16 : v & 0xff;
      pix[i] = last;
    }
  }
}

/**
 * Read a tile-compressed image HDU of an in-memory FITS file (`hduIndex`, or the first one). Throws FitsError
 * NO_SUCH_HDU when that HDU is not a tile-compressed image, and the errors of {@link decompressImage}.
 */
export function readCompressedImage(
  buf: Buffer,
  hduIndex?: number,
  out?: Float32Array | Float64Array,
): DecompressedImage {
  const hdus = listHdus(buf);
  const h = hduIndex === undefined ? hdus.find((x) => isTileCompressed(x.header)) : hdus[hduIndex];
  if (h === undefined || !isTileCompressed(h.header))
    throw new FitsError(
      "NO_SUCH_HDU",
      hduIndex === undefined
        ? "no tile-compressed image HDU"
        : `HDU ${hduIndex} is not a tile-compressed image`,
    );
  return decompressImage(h.header, buf.subarray(h.dataOffset, h.dataOffset + h.dataBytes), h.index, out);
}
