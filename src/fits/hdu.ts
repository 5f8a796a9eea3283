import { FitsError } from "./errors.js";
import { BLOCK_BYTES, type FitsHeader, parseHeader } from "./header.js";

/** The kind of a header-data unit. */
export type HduType = "PRIMARY" | "IMAGE" | "BINTABLE" | "TABLE";

/** Where one HDU sits in a file. `dataBytes` excludes the padding to 2880. */
export interface HduInfo {
  readonly index: number;
  readonly type: HduType;
  readonly header: FitsHeader;
  /** Byte offset of the header's first card. */
  readonly headerOffset: number;
  /** Byte offset of the first data byte. */
  readonly dataOffset: number;
  /** Data length in bytes without padding: |BITPIX|/8 * GCOUNT * (PCOUNT + NAXIS1*...*NAXISn). */
  readonly dataBytes: number;
}

const BITPIX_VALUES = new Set([8, 16, 32, 64, -32, -64]);

/** An integer keyword that must be present; FitsError BAD_HEADER otherwise. */
export function requireInt(header: FitsHeader, key: string, hdu: number, min = 0): number {
  const v = header.get(key);
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
    throw new FitsError(
      "BAD_HEADER",
      `HDU ${hdu}: ${key} must be an integer >= ${min}, got ${v === undefined ? "nothing" : String(v)}`,
    );
  }
  return v;
}

function optionalInt(header: FitsHeader, key: string, hdu: number, fallback: number): number {
  return header.has(key) ? requireInt(header, key, hdu) : fallback;
}

/** Data size in bytes (without padding) described by a header, per FITS 4.0 eq. 2 (random groups included). */
export function dataBytesOf(header: FitsHeader, hdu: number, primary: boolean): number {
  const bitpix = requireInt(header, "BITPIX", hdu, -64);
  if (!BITPIX_VALUES.has(bitpix))
    throw new FitsError("BAD_HEADER", `HDU ${hdu}: BITPIX = ${bitpix} is not valid`);
  const naxis = requireInt(header, "NAXIS", hdu);
  if (naxis > 999) throw new FitsError("BAD_HEADER", `HDU ${hdu}: NAXIS = ${naxis} is more than 999`);
  if (naxis === 0) return 0;
  // Random groups (primary, NAXIS1 = 0, GROUPS = T): NAXIS1 is left out of the product.
  const groups = primary && header.get("GROUPS") === true && header.get("NAXIS1") === 0;
  let product = 1;
  for (let i = groups ? 2 : 1; i <= naxis; i++) product *= requireInt(header, `NAXIS${i}`, hdu);
  const pcount = optionalInt(header, "PCOUNT", hdu, 0);
  const gcount = optionalInt(header, "GCOUNT", hdu, 1);
  return (Math.abs(bitpix) / 8) * gcount * (pcount + product);
}

/** Round a byte count up to whole 2880-byte blocks. */
export function padded(bytes: number): number {
  return Math.ceil(bytes / BLOCK_BYTES) * BLOCK_BYTES;
}

/** The kind of HDU `index` from its first card; FitsError when it is neither SIMPLE = T (first) nor a known XTENSION. */
export function hduType(header: FitsHeader, index: number): HduType {
  if (index === 0) {
    if (header.cards[0]?.key !== "SIMPLE" || header.get("SIMPLE") !== true) {
      throw new FitsError("NOT_FITS", "first card is not SIMPLE = T");
    }
    return "PRIMARY";
  }
  const x = header.cards[0]?.key === "XTENSION" ? header.get("XTENSION") : undefined;
  if (x === "IMAGE" || x === "BINTABLE" || x === "TABLE") return x;
  // IUEIMAGE and A3DTABLE are old names from before the extensions were standardised.
  if (x === "IUEIMAGE") return "IMAGE";
  if (x === "A3DTABLE") return "BINTABLE";
  throw new FitsError("BAD_HEADER", `HDU ${index}: XTENSION = ${String(x)} is not IMAGE, BINTABLE or TABLE`);
}

/**
 * Walk every HDU without copying data. `strict` (the validation gate) also demands that the file length be a
 * multiple of 2880 and that nothing but extensions follow the primary HDU; the lenient mode (reading) accepts
 * a missing final padding and ignores trailing bytes that do not start with XTENSION. Throws FitsError.
 */
export function walkHdus(buf: Buffer, strict: boolean): HduInfo[] {
  const hdus: HduInfo[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const index = hdus.length;
    if (index > 0 && buf.toString("latin1", pos, pos + 8) !== "XTENSION") {
      if (!strict) break;
      throw new FitsError(
        "TRAILING_GARBAGE",
        `${buf.length - pos} bytes after HDU ${index - 1} (at byte ${pos}) are not a FITS extension`,
      );
    }
    const { header, dataOffset } = parseHeader(buf, pos);
    const type = hduType(header, index);
    const dataBytes = dataBytesOf(header, index, index === 0);
    const end = dataOffset + dataBytes;
    if (end > buf.length) {
      throw new FitsError(
        "TRUNCATED",
        `HDU ${index} needs ${dataBytes} data bytes from byte ${dataOffset} but the file ends at byte ${buf.length}`,
      );
    }
    hdus.push({ index, type, header, headerOffset: pos, dataOffset, dataBytes });
    pos = dataOffset + padded(dataBytes);
  }
  if (strict && buf.length % BLOCK_BYTES !== 0) {
    throw new FitsError(
      "BAD_LENGTH",
      `length ${buf.length} is not a multiple of 2880 (truncated or unpadded?)`,
    );
  }
  if (hdus.length === 0) throw new FitsError("EMPTY", "no HDU found");
  return hdus;
}

/** Every HDU in a FITS buffer, in order, without copying data. Throws FitsError when the structure is broken. */
export function listHdus(buf: Buffer): HduInfo[] {
  return walkHdus(buf, false);
}
