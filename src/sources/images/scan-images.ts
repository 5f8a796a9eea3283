import { type Dirent, promises as fs } from "node:fs";
import { join, relative, sep } from "node:path";
import { dataBytesOf, padded } from "../../fits/hdu.js";
import { BLOCK_BYTES, CARD_BYTES, type FitsHeader, parseHeader } from "../../fits/header.js";
import { imageHeaderOf, isTileCompressed, tileParams } from "../../fits/tile-compressed.js";
import type { ImageIndexStore, IndexedImageInput } from "../../ledger/image-index.js";
import { footprint } from "../../wcs/footprint.js";
import { parseWcs } from "../../wcs/wcs.js";

/**
 * File names taken as FITS images (case-insensitive): .fits, .fit, .fts, and fpack's .fz (x.fits.fz), whose
 * tile-compressed HDUs are read. Gzipped files (.fits.gz) are not read.
 */
const FITS_NAME = /\.(fits|fit|fts|fz)$/i;

/** Why a file without any image HDU (plain or tile-compressed) is skipped. */
const NO_IMAGE = "no 2-D image HDU, plain or tile-compressed";
/**
 * What vocut said of such files before it read tile-compressed images: an unchanged file still recorded with
 * it is read again (once), since it may hold compressed images (WSA's UKIDSS .fit files do).
 */
const NO_IMAGE_BEFORE_TILES = "no 2-D image HDU";

/** One HDU's header as read from a file, with where its data is. */
export interface HeaderHdu {
  readonly index: number;
  readonly header: FitsHeader;
  /** The header's cards as read (80 characters each, END and padding left out). */
  readonly text: string;
  readonly dataOffset: number;
  readonly dataBytes: number;
}

/**
 * Read every HDU header of a FITS file without reading its data (one read per header block, data
 * skipped by its size). Throws FitsError for a broken structure and the fs error for an unreadable file.
 */
export async function readFitsHeaders(path: string): Promise<HeaderHdu[]> {
  const fh = await fs.open(path, "r");
  try {
    const size = (await fh.stat()).size;
    const out: HeaderHdu[] = [];
    let pos = 0;
    while (pos + BLOCK_BYTES <= size) {
      const blocks: Buffer[] = [];
      let end = -1;
      for (let at = pos; end < 0; at += BLOCK_BYTES) {
        const block = Buffer.alloc(BLOCK_BYTES);
        const { bytesRead } = await fh.read(block, 0, BLOCK_BYTES, at);
        if (bytesRead < BLOCK_BYTES) break;
        if (out.length > 0 && blocks.length === 0 && block.toString("latin1", 0, 8) !== "XTENSION") {
          return out; // trailing bytes that are not an extension
        }
        blocks.push(block);
        for (let c = 0; c < BLOCK_BYTES; c += CARD_BYTES) {
          if (block.toString("latin1", c, c + 8) === "END     ") {
            end = (blocks.length - 1) * BLOCK_BYTES + c;
            break;
          }
        }
      }
      const buf = Buffer.concat(blocks);
      // parseHeader reports a cut-off or END-less header with a precise FitsError.
      const { header, dataOffset } = parseHeader(buf, 0);
      const index = out.length;
      if (index === 0 && header.get("SIMPLE") !== true) throw new Error("first card is not SIMPLE = T");
      const dataBytes = dataBytesOf(header, index, index === 0);
      out.push({
        index,
        header,
        text: buf.toString("latin1", 0, end),
        dataOffset: pos + dataOffset,
        dataBytes,
      });
      pos += dataOffset + padded(dataBytes);
    }
    if (out.length === 0) throw new Error(`${size} bytes: shorter than one FITS header block`);
    return out;
  } finally {
    await fh.close();
  }
}

/** What one index update did. */
export interface IndexUpdate {
  /** FITS files in the folder. */
  readonly files: number;
  /** Files whose headers were read in this update (new or changed). */
  readonly read: number;
  /** Files dropped from the index (gone from the folder). */
  readonly removed: number;
  /** Image HDUs in the index after the update. */
  readonly images: number;
  /** Files that hold no usable image, with why (first few). */
  readonly problems: ReadonlyArray<{ readonly path: string; readonly problem: string }>;
  readonly ms: number;
}

/**
 * Bring the index up to date with the folder: new or changed files (size or mtime differ) are read and
 * (re)indexed, files gone are dropped, unchanged files are not opened. `bandKey` names the header keyword
 * whose value (trimmed, lower-cased) is stored as each image's band (the HDU's own card, else the primary
 * header's, as in multi-extension survey files); null stores none.
 */
export async function updateImageIndex(
  store: ImageIndexStore,
  dir: string,
  bandKey: string | null,
  signal?: AbortSignal,
): Promise<IndexUpdate> {
  const t0 = Date.now();
  const onDisk = await listFits(dir);
  const known = new Map(store.files().map((f) => [f.path, f]));
  let read = 0;
  let removed = 0;
  const problems: Array<{ path: string; problem: string }> = [];
  for (const f of onDisk) {
    signal?.throwIfAborted();
    const k = known.get(f.path);
    known.delete(f.path);
    if (
      k !== undefined &&
      k.size === f.size &&
      k.mtimeMs === f.mtimeMs &&
      k.problem !== NO_IMAGE_BEFORE_TILES
    ) {
      if (k.problem !== null) problems.push({ path: f.path, problem: k.problem });
      continue;
    }
    const { images, problem } = await indexFile(join(dir, f.path), bandKey);
    store.putFile(f, images, problem);
    if (problem !== null) problems.push({ path: f.path, problem });
    read++;
  }
  for (const gone of known.keys()) {
    store.dropFile(gone);
    removed++;
  }
  return {
    files: onDisk.length,
    read,
    removed,
    images: store.counts().images,
    problems,
    ms: Date.now() - t0,
  };
}

async function indexFile(
  path: string,
  bandKey: string | null,
): Promise<{ images: IndexedImageInput[]; problem: string | null }> {
  let hdus: HeaderHdu[];
  try {
    hdus = await readFitsHeaders(path);
  } catch (err) {
    return { images: [], problem: `not readable as FITS: ${(err as Error).message}` };
  }
  const primary = hdus[0]?.header;
  const images: IndexedImageInput[] = [];
  const skipped: string[] = [];
  const unsupported: string[] = [];
  for (const h of hdus) {
    const xt = h.index === 0 ? "IMAGE" : h.header.get("XTENSION");
    // A tile-compressed image (fpack, CompImageHDU) is indexed by its uncompressed-equivalent header; the
    // stored header stays the BINTABLE's (ZIMAGE = T tells the loader to decompress the whole data unit).
    const compressed = xt === "BINTABLE" && isTileCompressed(h.header);
    let header = h.header;
    if (compressed) {
      try {
        tileParams(h.header, h.index);
        header = imageHeaderOf(h.header, h.index);
      } catch (err) {
        unsupported.push((err as Error).message);
        continue;
      }
    } else if (xt !== "IMAGE") continue;
    const naxis = header.getNumber("NAXIS") ?? 0;
    if (naxis < 2 || h.dataBytes === 0) continue;
    const width = header.getNumber("NAXIS1") ?? 0;
    const height = header.getNumber("NAXIS2") ?? 0;
    let boxes: IndexedImageInput["boxes"];
    try {
      parseWcs(header);
      boxes = footprint(header).boxes;
    } catch (err) {
      skipped.push(`HDU ${h.index}: ${(err as Error).message}`);
      continue;
    }
    images.push({
      hdu: h.index,
      band: bandKey === null ? null : bandOf(header, primary, bandKey),
      width,
      height,
      header: h.text,
      dataOffset: h.dataOffset,
      // Only NAXIS1 x NAXIS2 values are read: the first plane of a cube. A compressed image needs its whole
      // data unit (table and heap).
      dataBytes: compressed ? h.dataBytes : (Math.abs(header.getNumber("BITPIX") ?? 8) / 8) * width * height,
      boxes,
    });
  }
  if (images.length > 0) return { images, problem: null };
  const why: string[] = [];
  if (unsupported.length > 0) why.push(`unsupported compressed image (${unsupported.join("; ")})`);
  if (skipped.length > 0) why.push(`no usable celestial WCS (${skipped.join("; ")})`);
  return { images, problem: why.length > 0 ? why.join("; ") : NO_IMAGE };
}

function bandOf(header: FitsHeader, primary: FitsHeader | undefined, key: string): string | null {
  const v = header.get(key) ?? primary?.get(key);
  if (v === undefined || v === null) return null;
  return String(v).trim().toLowerCase();
}

async function listFits(dir: string): Promise<Array<{ path: string; size: number; mtimeMs: number }>> {
  const out: Array<{ path: string; size: number; mtimeMs: number }> = [];
  const walk = async (d: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await fs.readdir(d, { withFileTypes: true });
    } catch (err) {
      if (d === dir) throw err;
      return; // an unreadable sub-folder holds nothing we can cut from
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = join(d, e.name);
      // vocut's own folders (temp files, caches) if OUT is inside DIR.
      if (e.name.startsWith(".vocut")) continue;
      if (e.isDirectory()) await walk(p);
      else if ((e.isFile() || e.isSymbolicLink()) && FITS_NAME.test(e.name)) {
        const st = await fs.stat(p).catch(() => undefined);
        if (st?.isFile() === true) {
          out.push({ path: relative(dir, p).split(sep).join("/"), size: st.size, mtimeMs: st.mtimeMs });
        }
      }
    }
  };
  await walk(dir);
  out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return out;
}
