import { FitsError } from "./errors.js";
import { listHdus } from "./hdu.js";
import type { FitsHeader } from "./header.js";

/** TFORM data type letters (FITS 4.0 table 18). */
export type BinColumnType = "L" | "X" | "B" | "I" | "J" | "K" | "A" | "E" | "D" | "C" | "M" | "P" | "Q";

/** One binary-table column: where it sits in a row and how to turn its bytes into values. */
export interface BinColumn {
  /** TTYPEn, or "COLn" when absent. */
  readonly name: string;
  /** 1-based column number n. */
  readonly index: number;
  readonly tform: string;
  readonly type: BinColumnType;
  /** Element count (bits for X); for P/Q the descriptor count (0 or 1). */
  readonly repeat: number;
  /** Byte offset of the field within a row. */
  readonly offset: number;
  /** Field width in bytes. */
  readonly width: number;
  /** Element type of a variable-length array (P/Q), e.g. "E" for TFORM 1PE(10). */
  readonly arrayType?: Exclude<BinColumnType, "P" | "Q">;
  readonly unit?: string;
  readonly ucd?: string;
  readonly tscal?: number;
  readonly tzero?: number | bigint;
  /** Stored integer that means "undefined" (B, I, J, K only). */
  readonly tnull?: number | bigint;
}

/** Row layout of a BINTABLE HDU. */
export interface BinTableLayout {
  /** NAXIS1: bytes per row. */
  readonly rowBytes: number;
  /** NAXIS2: number of rows. */
  readonly nRows: number;
  readonly columns: BinColumn[];
}

/** A decoded scalar. */
export type CellScalar = string | number | bigint | boolean | null;
/** A decoded cell: a scalar for repeat 1 and for strings, an array for vectors (and complex [re, im]). */
export type CellValue = CellScalar | CellScalar[];

const ELEMENT_BYTES: Record<Exclude<BinColumnType, "X">, number> = {
  L: 1,
  B: 1,
  I: 2,
  J: 4,
  K: 8,
  A: 1,
  E: 4,
  D: 8,
  C: 8,
  M: 16,
  P: 8,
  Q: 16,
};

const TFORM_RE = /^(\d*)([LXBIJKAEDCMPQ])(?:([LXBIJKAEDCM])(?:\((\d+)\))?)?/;

function fieldWidth(type: BinColumnType, repeat: number): number {
  return type === "X" ? Math.ceil(repeat / 8) : repeat * ELEMENT_BYTES[type];
}

function optionalNumber(header: FitsHeader, key: string): number | bigint | undefined {
  const v = header.get(key);
  return typeof v === "number" || typeof v === "bigint" ? v : undefined;
}

function optionalText(header: FitsHeader, key: string): string | undefined {
  const v = header.get(key);
  return typeof v === "string" && v !== "" ? v : undefined;
}

/**
 * Row layout of a BINTABLE header: row size, row count and each column's TFORM, offset, unit, UCD (TUCDn),
 * TSCAL/TZERO and TNULL. Throws FitsError BAD_HEADER when a TFORM is unknown or widths do not sum to NAXIS1.
 */
export function parseBinTableLayout(header: FitsHeader): BinTableLayout {
  if (header.get("XTENSION") !== "BINTABLE") throw new FitsError("BAD_HEADER", "not a BINTABLE header");
  const int = (key: string): number => {
    const v = header.get(key);
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
      throw new FitsError("BAD_HEADER", `BINTABLE ${key} must be a non-negative integer, got ${String(v)}`);
    }
    return v;
  };
  const rowBytes = int("NAXIS1");
  const nRows = int("NAXIS2");
  const tfields = int("TFIELDS");
  const columns: BinColumn[] = [];
  let offset = 0;
  for (let n = 1; n <= tfields; n++) {
    const tform = header.getString(`TFORM${n}`)?.trim() ?? "";
    const m = TFORM_RE.exec(tform);
    if (m === null)
      throw new FitsError("BAD_HEADER", `TFORM${n} = '${tform}' is not a valid binary table format`);
    const type = m[2] as BinColumnType;
    const repeat = m[1] === "" || m[1] === undefined ? 1 : Number(m[1]);
    const width = fieldWidth(type, repeat);
    const col: Record<string, unknown> = {
      name: optionalText(header, `TTYPE${n}`)?.trim() ?? `COL${n}`,
      index: n,
      tform,
      type,
      repeat,
      offset,
      width,
    };
    if ((type === "P" || type === "Q") && m[3] !== undefined) col.arrayType = m[3];
    const extras: Array<[string, unknown]> = [
      ["unit", optionalText(header, `TUNIT${n}`)],
      ["ucd", optionalText(header, `TUCD${n}`)],
      ["tscal", header.getNumber(`TSCAL${n}`)],
      ["tzero", optionalNumber(header, `TZERO${n}`)],
      ["tnull", optionalNumber(header, `TNULL${n}`)],
    ];
    for (const [k, v] of extras) if (v !== undefined) col[k] = v;
    columns.push(col as unknown as BinColumn);
    offset += width;
  }
  if (offset !== rowBytes) {
    throw new FitsError(
      "BAD_HEADER",
      `BINTABLE columns take ${offset} bytes per row but NAXIS1 = ${rowBytes}`,
    );
  }
  return { rowBytes, nRows, columns };
}

/** Read one stored element of a numeric type at byte `o` (K as bigint). */
function rawElement(buf: Buffer, type: BinColumnType, o: number): number | bigint {
  switch (type) {
    case "B":
      return buf.readUInt8(o);
    case "I":
      return buf.readInt16BE(o);
    case "J":
      return buf.readInt32BE(o);
    case "K":
      return buf.readBigInt64BE(o);
    case "E":
      return buf.readFloatBE(o);
    case "D":
      return buf.readDoubleBE(o);
    default:
      throw new FitsError("BAD_HEADER", `type ${type} is not numeric`);
  }
}

interface Scaling {
  readonly tscal?: number;
  readonly tzero?: number | bigint;
  readonly tnull?: number | bigint;
}

/** Apply TNULL and TSCAL/TZERO to one stored value. K stays bigint when the scaling is an exact integer shift. */
function scaled(raw: number | bigint, s: Scaling): CellScalar {
  // TNULL is compared with the stored value, before scaling (FITS 4.0 sec. 7.3.2).
  // biome-ignore lint/suspicious/noDoubleEquals: loose equality compares a number with a bigint exactly.
  if (s.tnull !== undefined && raw == s.tnull) return null;
  const tscal = s.tscal ?? 1;
  const tzero = s.tzero ?? 0;
  if (typeof raw === "bigint") {
    if (tscal === 1 && (typeof tzero === "bigint" || Number.isInteger(tzero))) return raw + BigInt(tzero);
    return Number(raw) * tscal + Number(tzero);
  }
  return tscal === 1 && tzero === 0 ? raw : raw * tscal + Number(tzero);
}

function decodeElements(buf: Buffer, type: BinColumnType, o: number, count: number, s: Scaling): CellValue {
  switch (type) {
    case "A": {
      // Strings end at the first NUL; trailing blanks are not significant.
      const text = buf.toString("latin1", o, o + count);
      const nul = text.indexOf("\0");
      return (nul >= 0 ? text.slice(0, nul) : text).replace(/ +$/, "");
    }
    case "L": {
      const out: CellScalar[] = [];
      for (let i = 0; i < count; i++) {
        const b = buf[o + i];
        out.push(b === 0x54 ? true : b === 0x46 ? false : null);
      }
      return count === 1 ? (out[0] ?? null) : out;
    }
    case "X": {
      const out: boolean[] = [];
      for (let i = 0; i < count; i++) out.push((((buf[o + (i >> 3)] ?? 0) >> (7 - (i & 7))) & 1) === 1);
      return count === 1 ? (out[0] ?? false) : out;
    }
    case "C":
    case "M": {
      const out: number[] = [];
      const size = type === "C" ? 4 : 8;
      for (let i = 0; i < 2 * count; i++) {
        const off = o + i * size;
        out.push(size === 4 ? buf.readFloatBE(off) : buf.readDoubleBE(off));
      }
      return out;
    }
    case "P":
    case "Q":
      throw new FitsError("BAD_HEADER", "variable-length descriptors need the heap");
    default: {
      const size = ELEMENT_BYTES[type];
      if (count === 1) return scaled(rawElement(buf, type, o), s);
      const out: CellScalar[] = [];
      for (let i = 0; i < count; i++) out.push(scaled(rawElement(buf, type, o + i * size), s));
      return out;
    }
  }
}

/**
 * Decode one cell from the bytes of one row (or any buffer positioned so that the field is at
 * `column.offset`): a scalar for repeat 1, a string for A (to the first NUL, trailing blanks dropped), arrays
 * for vectors and complex values. TNULL gives null, TSCAL/TZERO are applied (K stays bigint when exact), NaN
 * stays NaN; an empty field (repeat 0) is null. Variable-length (P/Q) cells need `heap` (the bytes from THEAP)
 * and throw FitsError BAD_HEADER without it.
 */
export function decodeCell(row: Buffer, column: BinColumn, heap?: Buffer): CellValue {
  if (column.repeat === 0) return null;
  if (column.offset + column.width > row.length) {
    throw new FitsError(
      "TRUNCATED",
      `row has ${row.length} bytes; column ${column.name} needs ${column.offset + column.width}`,
    );
  }
  if (column.type === "P" || column.type === "Q") {
    if (heap === undefined)
      throw new FitsError("BAD_HEADER", `column ${column.name} is variable-length: pass the heap`);
    const q = column.type === "Q";
    const count = q ? Number(row.readBigInt64BE(column.offset)) : row.readInt32BE(column.offset);
    const start = q ? Number(row.readBigInt64BE(column.offset + 8)) : row.readInt32BE(column.offset + 4);
    const type = column.arrayType ?? "B";
    if (start + fieldWidth(type, count) > heap.length) {
      throw new FitsError("TRUNCATED", `column ${column.name}: heap array at ${start} runs past the heap`);
    }
    const v = decodeElements(heap, type, start, count, column);
    return Array.isArray(v) || type === "A" ? v : [v];
  }
  return decodeElements(row, column.type, column.offset, column.repeat, column);
}

/** A binary table read from a buffer: metadata plus a lazy row iterator (no data copied). */
export interface BinTable extends BinTableLayout {
  readonly header: FitsHeader;
  /** Iterates rows in order; each row is one decoded value per column. */
  rows(): IterableIterator<CellValue[]>;
}

/**
 * Open the BINTABLE HDU at `hduIndex` (default: the first BINTABLE) of an in-memory FITS file. Throws
 * FitsError NO_SUCH_HDU when there is no such table and the errors of {@link parseBinTableLayout}.
 */
export function readBinTable(buf: Buffer, hduIndex?: number): BinTable {
  const hdus = listHdus(buf);
  const hdu = hduIndex === undefined ? hdus.find((h) => h.type === "BINTABLE") : hdus[hduIndex];
  if (hdu === undefined || hdu.type !== "BINTABLE") {
    throw new FitsError(
      "NO_SUCH_HDU",
      hduIndex === undefined ? "no BINTABLE HDU" : `HDU ${hduIndex} is not a BINTABLE`,
    );
  }
  const layout = parseBinTableLayout(hdu.header);
  const table = hdu.dataOffset;
  const tableBytes = layout.rowBytes * layout.nRows;
  const theap = hdu.header.getNumber("THEAP") ?? tableBytes;
  const heap = buf.subarray(table + theap, hdu.dataOffset + hdu.dataBytes);
  return {
    ...layout,
    header: hdu.header,
    *rows() {
      for (let r = 0; r < layout.nRows; r++) {
        const row = buf.subarray(table + r * layout.rowBytes, table + (r + 1) * layout.rowBytes);
        yield layout.columns.map((c) => decodeCell(row, c, heap));
      }
    },
  };
}
