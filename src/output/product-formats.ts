import { gunzipSync } from "node:zlib";
import { validateFits } from "../fits/validate.js";

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
