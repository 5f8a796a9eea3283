import { type Card, formatCard } from "../../fits/header.js";
import { encodeImage } from "../../fits/image.js";
import { decodeRaster, encodePng } from "../../raster/raster.js";

/**
 * 8-bit HiPS (PNG/JPEG tiles): tiles into per-channel arrays in FITS row order, and stamps back into
 * 8-bit PNG or FITS files. PNG and JPEG rows run top-down, FITS rows bottom-up: a tile's PNG row r is FITS
 * row w-1-r (pinned by test/hips/png-hips.test.ts against Hipsgen's PNG and FITS tiles of one survey).
 */

/** The PNG tEXt keyword holding a PNG stamp's FITS header cards (80-character cards, one a line). */
export const PNG_FITS_KEYWORD = "FITS";

/** Output format of a client-side HiPS stamp. */
export type StampFormat = "fits" | "png";

/**
 * Decode a PNG/JPEG tile into `channels` arrays (grey: the mean of R, G, B; colour: R, G, B), each w x w in
 * FITS order (row 0 = bottom). A transparent pixel (alpha 0) is NaN, no data. Throws an Error for bytes
 * that are no image or of the wrong size.
 */
export function decodeTile(body: Buffer, tileWidth: number, channels: 1 | 3): Float32Array[] {
  const img = decodeRaster(body);
  if (img.width !== tileWidth || img.height !== tileWidth) {
    throw new Error(`tile is ${img.width}x${img.height}, properties say ${tileWidth}x${tileWidth}`);
  }
  const w = tileWidth;
  const out = Array.from({ length: channels }, () => new Float32Array(w * w));
  const src = img.data;
  for (let r = 0; r < w; r++) {
    const dstRow = (w - 1 - r) * w;
    for (let c = 0; c < w; c++) {
      const o = (r * w + c) * 4;
      const q = dstRow + c;
      if (src[o + 3] === 0) {
        for (const ch of out) ch[q] = Number.NaN;
      } else if (channels === 1) {
        (out[0] as Float32Array)[q] =
          ((src[o] as number) + (src[o + 1] as number) + (src[o + 2] as number)) / 3;
      } else {
        (out[0] as Float32Array)[q] = src[o] as number;
        (out[1] as Float32Array)[q] = src[o + 1] as number;
        (out[2] as Float32Array)[q] = src[o + 2] as number;
      }
    }
  }
  return out;
}

/**
 * Encode resampled 8-bit channels (FITS order, NaN = no data) as a stamp file. Values are rounded and
 * clamped to 0..255. PNG: rows flipped to top-down, an alpha channel (0 where any channel has no data)
 * only when some pixel has none, and the FITS header cards (WCS, provenance) in a tEXt chunk
 * "FITS". FITS: BITPIX 8, NAXIS3 = 3 for colour; no-data pixels are 0.
 */
export function encodeRasterStamp(
  format: StampFormat,
  width: number,
  height: number,
  channels: readonly Float32Array[],
  cards: readonly Card[],
): Buffer {
  const n = width * height;
  const C = channels.length;
  let blank = false;
  const level = (v: number): number => (Number.isNaN(v) ? 0 : v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));
  const nodata = new Uint8Array(n);
  for (const ch of channels) {
    for (let p = 0; p < n; p++) {
      if (Number.isNaN(ch[p] as number)) {
        nodata[p] = 1;
        blank = true;
      }
    }
  }
  if (format === "fits") {
    const data = new Uint8Array(n * C);
    channels.forEach((ch, c) => {
      for (let p = 0; p < n; p++) data[c * n + p] = nodata[p] ? 0 : level(ch[p] as number);
    });
    const colour: Card[] =
      C === 3 ? [{ key: "COMMENT", value: "NAXIS3 planes: 1 red, 2 green, 3 blue (8-bit levels)" }] : [];
    return encodeImage({
      bitpix: 8,
      shape: C === 3 ? [width, height, 3] : [width, height],
      data,
      cards: [...cards, ...colour],
    });
  }
  const data = new Uint8Array(n * C);
  const alpha = blank ? new Uint8Array(n) : undefined;
  for (let j = 0; j < height; j++) {
    const row = (height - 1 - j) * width; // PNG row of FITS row j
    for (let i = 0; i < width; i++) {
      const p = j * width + i;
      const q = row + i;
      for (let c = 0; c < C; c++)
        data[q * C + c] = nodata[p] ? 0 : level((channels[c] as Float32Array)[p] as number);
      if (alpha !== undefined) alpha[q] = nodata[p] ? 0 : 255;
    }
  }
  const header = [
    { key: "NAXIS1", value: width },
    { key: "NAXIS2", value: height },
    ...cards,
    { key: "COMMENT", value: "PNG row 0 is the top: FITS pixel (i, j) is PNG column i-1, row NAXIS2-j" },
  ]
    .map((c) => formatCard(c))
    .join("\n");
  return encodePng({
    width,
    height,
    channels: C === 3 ? 3 : 1,
    data,
    ...(alpha !== undefined ? { alpha } : {}),
    text: { [PNG_FITS_KEYWORD]: header },
  });
}
