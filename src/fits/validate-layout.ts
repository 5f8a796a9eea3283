import { FitsError } from "./errors.js";
import { dataBytesOf, hduType, padded } from "./hdu.js";
import { BLOCK_BYTES, parseHeader } from "./header.js";
import { type FitsValidation, validateFits } from "./validate.js";

/** Reads `length` bytes from `offset` of a stored body (fewer only at its end). */
export type ReadAt = (offset: number, length: number) => Promise<Buffer>;

/** The first read of a header; doubled while END is not found, up to MAX_HEADER_BYTES. */
const FIRST_READ = 64 * 1024;
/** Longest header read (some survey headers run to thousands of cards; none to 16 MiB). */
const MAX_HEADER_BYTES = 16 * 2 ** 20;

/**
 * validateFits() for a body that is not in memory: the same rules (SIMPLE = T first, every HDU has a
 * header with END and all the data its NAXISn, BITPIX, PCOUNT and GCOUNT describe, only extensions after
 * the primary, a length that is a multiple of 2880 and nothing after the last HDU), checked by reading
 * the headers alone: each HDU's data is skipped by its computed size, so a 10 GB cube costs a few reads.
 * Never throws for a broken body (FitsValidation says why); throws what `readAt` throws.
 */
export async function validateFitsLayout(readAt: ReadAt, size: number): Promise<FitsValidation> {
  if (size === 0) return validateFits(Buffer.alloc(0));
  const first = await readAt(0, Math.min(size, FIRST_READ));
  // A body that is not FITS at all gets validateFits' message (an HTML page, JSON, XML, gzip...).
  if (first.subarray(0, 9).toString("latin1") !== "SIMPLE  =") return validateFits(first);
  let pos = 0;
  let hdus = 0;
  try {
    while (pos < size) {
      let want = Math.min(size - pos, FIRST_READ);
      let block = pos === 0 ? first : await readAt(pos, want);
      if (hdus > 0 && block.toString("latin1", 0, 8) !== "XTENSION") {
        throw new FitsError(
          "TRAILING_GARBAGE",
          `${size - pos} bytes after HDU ${hdus - 1} (at byte ${pos}) are not a FITS extension`,
        );
      }
      let parsed: ReturnType<typeof parseHeader> | undefined;
      while (parsed === undefined) {
        try {
          parsed = parseHeader(block, 0);
        } catch (err) {
          const more = err instanceof FitsError && (err.code === "NO_END" || err.code === "TRUNCATED");
          if (!more || want >= size - pos || want >= MAX_HEADER_BYTES) throw err;
          want = Math.min(size - pos, want * 2);
          block = await readAt(pos, want);
        }
      }
      hduType(parsed.header, hdus); // throws unless SIMPLE = T first, then a known XTENSION
      const dataBytes = dataBytesOf(parsed.header, hdus, hdus === 0);
      const dataOffset = pos + parsed.dataOffset;
      if (dataOffset + dataBytes > size) {
        throw new FitsError(
          "TRUNCATED",
          `HDU ${hdus} needs ${dataBytes} data bytes from byte ${dataOffset} but the file ends at byte ${size}`,
        );
      }
      hdus++;
      pos = dataOffset + padded(dataBytes);
    }
    if (size % BLOCK_BYTES !== 0) {
      throw new FitsError("BAD_LENGTH", `length ${size} is not a multiple of 2880 (truncated or unpadded?)`);
    }
  } catch (err) {
    if (err instanceof FitsError) return { ok: false, code: err.code, message: err.message };
    throw err;
  }
  return { ok: true, hdus, bytes: size };
}
