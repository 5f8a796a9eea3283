import { crc32 } from "node:zlib";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";

/**
 * 8-bit raster images (PNG, JPEG): recognising them by their magic bytes, decoding them with pngjs and
 * jpeg-js, writing PNG stamps with text chunks. Rows run top-down here, as in the files.
 */

export type RasterKind = "png" | "jpeg";

/** A decoded image: RGBA, 4 bytes a pixel, row 0 at the top. */
export interface Rgba {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** Largest side accepted when decoding (a HiPS tile is at most 4096; a hips2fits stamp at most 10000). */
const MAX_SIDE = 16384;

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Which raster format the bytes are, by their magic bytes; undefined for anything else (HTML, FITS). */
export function rasterKind(body: Uint8Array): RasterKind | undefined {
  if (body.length >= 8 && Buffer.from(body.subarray(0, 8)).equals(PNG_MAGIC)) return "png";
  if (body.length >= 3 && body[0] === 0xff && body[1] === 0xd8 && body[2] === 0xff) return "jpeg";
  return undefined;
}

/** Decode a PNG or JPEG into RGBA. Throws an Error saying why for anything else or a broken image. */
export function decodeRaster(body: Buffer): Rgba {
  const kind = rasterKind(body);
  if (kind === undefined) throw new Error("neither a PNG nor a JPEG image (magic bytes)");
  if (kind === "png") {
    let png: PNG;
    try {
      png = PNG.sync.read(body);
    } catch (err) {
      throw new Error(`broken PNG: ${(err as Error).message}`);
    }
    return { width: png.width, height: png.height, data: png.data };
  }
  try {
    const img = jpeg.decode(body, {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: (MAX_SIDE * MAX_SIDE) / 1e6,
      maxMemoryUsageInMB: 1024,
    });
    return { width: img.width, height: img.height, data: img.data };
  } catch (err) {
    throw new Error(`broken JPEG: ${(err as Error).message}`);
  }
}

/** Why `body` is not a whole image of `kind` (magic bytes and a full decode), or undefined when it is. */
export function checkRaster(body: Buffer, kind: RasterKind): string | undefined {
  const found = rasterKind(body);
  if (found !== kind) {
    const head = body.subarray(0, 256).toString("latin1").trimStart().toLowerCase();
    const html = head.startsWith("<!doctype html") || head.startsWith("<html") || head.startsWith("<");
    return html ? `an HTML/XML page, not a ${kind.toUpperCase()} image` : `not a ${kind.toUpperCase()} image`;
  }
  try {
    const img = decodeRaster(body);
    if (img.width < 1 || img.height < 1) return `an empty ${kind.toUpperCase()} image`;
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}

/**
 * Encode an 8-bit image as PNG: `channels` 1 (grey) or 3 (RGB) values a pixel, row 0 at the top; with
 * `alpha` (0 = transparent) a grey+alpha or RGBA PNG. `text` becomes tEXt chunks (Latin-1 keywords of 1-79
 * characters) placed before the image data.
 */
export function encodePng(opts: {
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3;
  readonly data: Uint8Array;
  readonly alpha?: Uint8Array;
  readonly text?: Readonly<Record<string, string>>;
}): Buffer {
  const { width, height, channels, data, alpha } = opts;
  const n = width * height;
  if (data.length !== n * channels)
    throw new TypeError(`data has ${data.length} values, needs ${n * channels}`);
  if (alpha !== undefined && alpha.length !== n)
    throw new TypeError(`alpha has ${alpha.length} values, needs ${n}`);
  const png = new PNG({
    width,
    height,
    colorType: channels === 1 ? (alpha ? 4 : 0) : alpha ? 6 : 2,
    inputColorType: 6,
    inputHasAlpha: true,
  });
  const rgba = png.data;
  for (let p = 0; p < n; p++) {
    const o = p * 4;
    if (channels === 1) {
      const v = data[p] as number;
      rgba[o] = v;
      rgba[o + 1] = v;
      rgba[o + 2] = v;
    } else {
      rgba[o] = data[p * 3] as number;
      rgba[o + 1] = data[p * 3 + 1] as number;
      rgba[o + 2] = data[p * 3 + 2] as number;
    }
    rgba[o + 3] = alpha === undefined ? 255 : (alpha[p] as number);
  }
  const bytes = PNG.sync.write(png, {
    colorType: channels === 1 ? (alpha ? 4 : 0) : alpha ? 6 : 2,
    inputColorType: 6,
    inputHasAlpha: true,
  });
  const text = Object.entries(opts.text ?? {});
  if (text.length === 0) return bytes;
  // tEXt chunks go right after IHDR (8-byte signature + 25-byte IHDR chunk).
  const chunks = text.map(([k, v]) => textChunk(k, v));
  return Buffer.concat([bytes.subarray(0, 33), ...chunks, bytes.subarray(33)]);
}

function textChunk(keyword: string, value: string): Buffer {
  if (!/^[\x20-\x7e]{1,79}$/.test(keyword))
    throw new TypeError(`bad PNG text keyword ${JSON.stringify(keyword)}`);
  const body = Buffer.concat([Buffer.from(`tEXt${keyword}\0`, "latin1"), Buffer.from(value, "latin1")]);
  const out = Buffer.alloc(body.length + 8);
  out.writeUInt32BE(body.length - 4, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), 4 + body.length);
  return out;
}

/** The tEXt chunks of a PNG, keyword -> text (the first of each keyword). Throws on a broken chunk list. */
export function pngText(body: Buffer): Record<string, string> {
  if (rasterKind(body) !== "png") throw new Error("not a PNG image");
  const out: Record<string, string> = {};
  let off = 8;
  while (off + 8 <= body.length) {
    const len = body.readUInt32BE(off);
    const type = body.toString("latin1", off + 4, off + 8);
    if (off + 12 + len > body.length) throw new Error(`PNG chunk ${type} runs past the end`);
    if (type === "tEXt") {
      const data = body.subarray(off + 8, off + 8 + len);
      const z = data.indexOf(0);
      if (z > 0) {
        const key = data.toString("latin1", 0, z);
        if (!(key in out)) out[key] = data.toString("latin1", z + 1);
      }
    }
    if (type === "IEND") break;
    off += 12 + len;
  }
  return out;
}
