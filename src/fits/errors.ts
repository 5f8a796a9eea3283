/**
 * Stable codes for everything that can be wrong with a FITS byte stream. Callers branch on `code`, never on
 * the message text, so these strings are a contract (they also end up in the ledger).
 */
export type FitsErrorCode =
  /** Zero bytes. */
  | "EMPTY"
  /** The body is an HTML page (error page, login page, proxy page). */
  | "HTML"
  /** The body is JSON (hips2fits answers errors as `{title, description}`). */
  | "JSON"
  /** The body is XML, typically a VOTable with an error INFO. */
  | "XML"
  /** The body is gzip-compressed (undecoded Content-Encoding or a .fits.gz product). */
  | "GZIP"
  /** Does not start with `SIMPLE  =                    T`. */
  | "NOT_FITS"
  /** The bytes end before a header or data unit does. */
  | "TRUNCATED"
  /** Length is not a multiple of 2880 although every HDU fits. */
  | "BAD_LENGTH"
  /** A header card is malformed (non-ASCII byte, unterminated string). */
  | "BAD_CARD"
  /** A header ran to a block boundary at the end of the file without an END card. */
  | "NO_END"
  /** A mandatory keyword is missing or has an impossible value (BITPIX 12, NAXIS -1, TFORM mismatch). */
  | "BAD_HEADER"
  /** Bytes after the last HDU that are not another extension. */
  | "TRAILING_GARBAGE"
  /** No HDU of the requested kind (image, table) at that index. */
  | "NO_SUCH_HDU"
  /** Valid FITS that vocut does not decode (PLIO_1 or HCOMPRESS_1 tile compression, a compressed cube). */
  | "UNSUPPORTED";

/** A FITS parsing or validation failure with a stable string `code` (see {@link FitsErrorCode}). */
export class FitsError extends Error {
  readonly code: FitsErrorCode;
  constructor(code: FitsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "FitsError";
    this.code = code;
  }
}
