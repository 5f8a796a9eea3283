import { gunzipSync, constants as zlibConstants } from "node:zlib";
import { validateFits } from "../fits/validate.js";
import { type ReadAt, validateFitsLayout } from "../fits/validate-layout.js";

/**
 * What vocut makes of an archive product's MIME type (ObsCore `access_format`, DataLink `content_type`):
 * the file extension it is saved under and whether its bytes must be a FITS file. Extensions come from
 * this fixed list only, so a hostile MIME type or URL cannot put anything else into a file name.
 */

/** ObsCore/DataLink: access_format of a DataLink document (the product is one link further). */
export function isDatalink(format: string | undefined): boolean {
  return format !== undefined && /content\s*=\s*"?datalink/i.test(format);
}

/** The MIME type without parameters, lower case ("application/fits;version=4" -> "application/fits"). */
function baseType(format: string): string {
  return (format.split(";")[0] ?? "").trim().toLowerCase();
}

/** Whether a MIME type declares FITS (application/fits, image/fits, application/x-fits-bintable, ...). */
export function isFitsFormat(format: string | undefined): boolean {
  return format !== undefined && /(^|[/.+-])fits($|[/.+-])/.test(baseType(format));
}

const BY_TYPE: Readonly<Record<string, string>> = {
  "application/x-votable+xml": ".xml",
  "text/xml": ".xml",
  "application/xml": ".xml",
  "application/gzip": ".gz",
  "application/x-gzip": ".gz",
  "application/x-tar": ".tar",
  "application/zip": ".zip",
  "application/pdf": ".pdf",
  "image/png": ".png",
  "image/jpeg": ".jpg",
  "image/gif": ".gif",
  "text/plain": ".txt",
  "text/csv": ".csv",
  "text/tab-separated-values": ".tsv",
  "application/json": ".json",
  "text/html": ".html",
  "application/x-hdf5": ".h5",
};

/** Extensions a product may end up with: the candidates when a DataLink product's type is not known yet. */
export const PRODUCT_EXTS: readonly string[] = [
  ".fits",
  ".fits.gz",
  ".fits.fz",
  ...new Set(Object.values(BY_TYPE)),
  ".dat",
];

/** The extension of a URL's path when it is one we know (".fits.gz" included), else undefined. */
function urlExt(url: string): string | undefined {
  let path: string;
  try {
    path = new URL(url).pathname.toLowerCase();
  } catch {
    return undefined;
  }
  if (/\.(fits|fit|fts)\.gz$/.test(path)) return ".fits.gz";
  if (/\.(fits|fit|fts)\.fz$/.test(path)) return ".fits.fz";
  if (/\.(fits|fit|fts)$/.test(path)) return ".fits";
  const ext = /\.[a-z0-9]{1,5}$/.exec(path)?.[0];
  if (ext === ".jpeg") return ".jpg";
  return ext !== undefined && PRODUCT_EXTS.includes(ext) ? ext : undefined;
}

/**
 * The extension a product is saved under: from its MIME type, else from its URL, else ".dat". Undefined
 * for a DataLink document: the product's type is known only once the DataLink has been read.
 */
export function productExt(format: string | undefined, url: string): string | undefined {
  if (isDatalink(format)) return undefined;
  const fromUrl = urlExt(url);
  if (isFitsFormat(format)) return fromUrl?.startsWith(".fits") ? fromUrl : ".fits";
  if (format !== undefined) {
    const t = BY_TYPE[baseType(format)];
    if (t !== undefined) return t;
  }
  return fromUrl ?? ".dat";
}

/** Largest decompressed size a .fits.gz product is inflated to for its check: a gzip bomb stops here. */
export const MAX_GUNZIP_BYTES = 512 * 2 ** 20;

/**
 * Check a product's bytes against what it claims to be. FITS (by type or extension) must validate,
 * through gzip when it is compressed (the bytes are kept as they came); anything else must be non-empty
 * and not an HTML page unless HTML was asked for. Returns undefined when fine, else why not.
 */
export function checkProduct(body: Buffer, ext: string, contentType: string | undefined): string | undefined {
  if (body.length === 0) return "the body is empty";
  if (ext.startsWith(".fits")) {
    if (ext === ".fits.fz") return validateFits(body).ok ? undefined : "not a (tile-compressed) FITS file";
    let bytes = body;
    if (body[0] === 0x1f && body[1] === 0x8b) {
      try {
        bytes = gunzipSync(body, { maxOutputLength: MAX_GUNZIP_BYTES });
      } catch (e) {
        const big = (e as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE";
        return big
          ? `gzip data inflates to more than ${MAX_GUNZIP_BYTES} bytes: refused`
          : `gzip data is broken (${(e as Error).message})`;
      }
    }
    const v = validateFits(bytes);
    return v.ok ? undefined : v.message;
  }
  if (ext !== ".html") {
    const declaredHtml = contentType !== undefined && baseType(contentType) === "text/html";
    const head = body.subarray(0, 512).toString("latin1").trimStart().toLowerCase();
    if (declaredHtml || head.startsWith("<!doctype html") || head.startsWith("<html")) {
      return "the server sent an HTML page instead of the product";
    }
  }
  return undefined;
}

/**
 * Products up to this size are checked whole, as checkProduct() does (a .fits.gz is inflated); larger
 * ones by their header and size (checkStoredProduct()), so no product is held whole in memory.
 */
export const VALIDATION_WINDOW = 16 * 2 ** 20;

/** Leading bytes of the formats that have them, by extension (the check for products over the window). */
const MAGIC: Readonly<Record<string, ReadonlyArray<readonly [number, Buffer]>>> = {
  ".gz": [[0, Buffer.from([0x1f, 0x8b])]],
  ".zip": [
    [0, Buffer.from("PK\x03\x04", "latin1")],
    [0, Buffer.from("PK\x05\x06", "latin1")],
  ],
  ".tar": [[257, Buffer.from("ustar", "latin1")]],
  ".pdf": [[0, Buffer.from("%PDF-", "latin1")]],
  ".png": [[0, Buffer.from("89504e470d0a1a0a", "hex")]],
  ".jpg": [[0, Buffer.from([0xff, 0xd8, 0xff])]],
  ".gif": [[0, Buffer.from("GIF8", "latin1")]],
  ".h5": [[0, Buffer.from("894844460d0a1a0a", "hex")]],
};

/** Bytes read for the head checks of a large product. */
const HEAD_BYTES = 64 * 1024;

/**
 * checkProduct() for a product stored in a file (`readAt` reads it, `size` bytes). Up to
 * VALIDATION_WINDOW it is read and checked whole. Larger: FITS (.fits, .fits.fz) passes the same
 * structural check by its headers alone (validateFitsLayout: every header parses, the data sizes they
 * describe, padded to 2880, add up to exactly `size`); .fits.gz must start with the gzip magic and
 * inflate to a first card SIMPLE = T; a type with a signature (gzip, zip, tar, pdf, png, jpeg, gif, HDF5)
 * must start with it; anything else must not be an HTML page. Returns undefined when fine, else why not.
 */
export async function checkStoredProduct(
  readAt: ReadAt,
  size: number,
  ext: string,
  contentType: string | undefined,
): Promise<string | undefined> {
  if (size <= VALIDATION_WINDOW) return checkProduct(await readAt(0, size), ext, contentType);
  if (ext === ".fits" || ext === ".fits.fz") {
    const v = await validateFitsLayout(readAt, size);
    return v.ok ? undefined : v.message;
  }
  const head = await readAt(0, HEAD_BYTES);
  if (ext === ".fits.gz") {
    if (head[0] !== 0x1f || head[1] !== 0x8b) return "not gzip data (no 1f 8b at the start)";
    let inflated: Buffer;
    try {
      // 1 KiB of deflate data inflates to at most ~1 MiB; a sync flush inflates what is there without
      // asking for the end of the stream.
      inflated = gunzipSync(head.subarray(0, 1024), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
    } catch (e) {
      return `gzip data is broken (${(e as Error).message})`;
    }
    if (!/^SIMPLE {2}= *T /.test(inflated.subarray(0, 80).toString("latin1")))
      return "the gzip data does not inflate to a FITS file (no SIMPLE = T card first)";
    return undefined;
  }
  for (const [offset, magic] of MAGIC[ext] ?? []) {
    if (head.subarray(offset, offset + magic.length).equals(magic)) return undefined;
  }
  if (MAGIC[ext] !== undefined) return `does not start as a ${ext} file does`;
  return checkProduct(head, ext, contentType);
}
