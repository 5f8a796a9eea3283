/**
 * FITS binary-table catalogs, read through a file handle in row chunks (constant memory) with the header and
 * cell decoding of src/fits.
 */
import type { FileHandle } from "node:fs/promises";
import {
  type BinColumn,
  type BinTableLayout,
  type CellValue,
  decodeCell,
  parseBinTableLayout,
} from "../fits/bintable.js";
import { FitsError } from "../fits/errors.js";
import { dataBytesOf, padded } from "../fits/hdu.js";
import { BLOCK_BYTES, type FitsHeader, parseHeader } from "../fits/header.js";

/** A BINTABLE HDU found in a file: its layout and where its rows start. */
export interface FitsTableHdu {
  /** 0-based HDU index (0 is the primary HDU). */
  readonly index: number;
  readonly header: FitsHeader;
  readonly layout: BinTableLayout;
  /** Byte offset of the first row. */
  readonly dataOffset: number;
}

/** Longest header read, in 2880-byte blocks (a guard against a file that is not FITS at all). */
const MAX_HEADER_BLOCKS = 10_000;
/** Bytes read per chunk of rows. */
const CHUNK_BYTES = 256 * 1024;

async function readHeaderAt(
  fh: FileHandle,
  offset: number,
  size: number,
): Promise<{ header: FitsHeader; dataOffset: number }> {
  const blocks: Buffer[] = [];
  for (let b = 0; b < MAX_HEADER_BLOCKS; b++) {
    const pos = offset + b * BLOCK_BYTES;
    if (pos + BLOCK_BYTES > size)
      throw new FitsError("TRUNCATED", `header at byte ${offset} is cut off at byte ${size}`);
    const block = Buffer.alloc(BLOCK_BYTES);
    await fh.read(block, 0, BLOCK_BYTES, pos);
    blocks.push(block);
    // The END card sits at a card boundary; look for it in this block before parsing everything.
    for (let c = 0; c < BLOCK_BYTES; c += 80) {
      if (block.toString("latin1", c, c + 8) === "END     ") {
        const parsed = parseHeader(Buffer.concat(blocks), 0);
        return { header: parsed.header, dataOffset: offset + parsed.dataOffset };
      }
    }
  }
  throw new FitsError(
    "NO_END",
    `header at byte ${offset} has no END card within ${MAX_HEADER_BLOCKS} blocks`,
  );
}

/**
 * Walk the HDUs of an open FITS file (headers only) and return every BINTABLE in order. Throws FitsError
 * (NOT_FITS, TRUNCATED, BAD_HEADER, ...) for a broken file.
 */
export async function listBinTables(fh: FileHandle): Promise<FitsTableHdu[]> {
  const { size } = await fh.stat();
  const tables: FitsTableHdu[] = [];
  let offset = 0;
  for (let index = 0; offset < size; index++) {
    // Trailing bytes that are not a header (zero padding some writers add) end the walk.
    if (index > 0) {
      const probe = Buffer.alloc(8);
      await fh.read(probe, 0, 8, offset);
      if (probe.toString("latin1") !== "XTENSION") break;
    }
    const { header, dataOffset } = await readHeaderAt(fh, offset, size);
    if (index === 0 && header.get("SIMPLE") !== true)
      throw new FitsError("NOT_FITS", "first card is not SIMPLE = T");
    if (header.get("XTENSION") === "BINTABLE") {
      tables.push({ index, header, layout: parseBinTableLayout(header), dataOffset });
    }
    offset = dataOffset + padded(dataBytesOf(header, index, index === 0));
  }
  return tables;
}

/** One row of the chosen columns. */
export interface FitsRow {
  /** 1-based row number. */
  readonly row: number;
  /** One value per requested column, in the order asked. */
  readonly values: CellValue[];
}

/**
 * Read the rows of `table` in chunks of about 256 KiB, decoding only `columns`. Variable-length (P/Q)
 * columns are not supported here. Throws FitsError TRUNCATED when the file ends inside the table.
 */
export async function* readFitsRows(
  fh: FileHandle,
  table: FitsTableHdu,
  columns: readonly BinColumn[],
): AsyncGenerator<FitsRow> {
  const { rowBytes, nRows } = table.layout;
  if (rowBytes === 0) return;
  const rowsPerChunk = Math.max(1, Math.floor(CHUNK_BYTES / rowBytes));
  const buf = Buffer.alloc(rowsPerChunk * rowBytes);
  for (let first = 0; first < nRows; first += rowsPerChunk) {
    const n = Math.min(rowsPerChunk, nRows - first);
    const want = n * rowBytes;
    const { bytesRead } = await fh.read(buf, 0, want, table.dataOffset + first * rowBytes);
    if (bytesRead < want) {
      throw new FitsError(
        "TRUNCATED",
        `the file ends inside row ${first + Math.floor(bytesRead / rowBytes) + 1} of ${nRows}`,
      );
    }
    for (let r = 0; r < n; r++) {
      const row = buf.subarray(r * rowBytes, (r + 1) * rowBytes);
      yield { row: first + r + 1, values: columns.map((c) => decodeCell(row, c)) };
    }
  }
}
