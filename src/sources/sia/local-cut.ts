import { FitsError } from "../../fits/errors.js";
import { listHdus, readImage } from "../../fits/image.js";
import { decompressImage, imageHeaderOf, isTileCompressed, tileParams } from "../../fits/tile-compressed.js";
import { containing } from "../../wcs/hdu-containing.js";
import { type CelestialWcs, parseWcs } from "../../wcs/wcs.js";

/**
 * The images a SIA local cut is made from: a whole survey image (or a SODA answer) decoded into its image
 * HDUs, and the HDU that contains the position with the most margin (UKIDSS files hold four detectors). The
 * stamp itself is src/wcs's stampFromImage, as for --images.
 */

/** A decoded image HDU with its WCS, kept in memory between the stamps cut from it. */
export interface DecodedPlane {
  readonly hdu: number;
  readonly width: number;
  readonly height: number;
  readonly data: Float64Array;
  readonly header: ReturnType<typeof listHdus>[number]["header"];
  readonly wcs: CelestialWcs;
}

/**
 * The 2-D image HDUs of a file with a celestial WCS vocut can use, decoded; tile-compressed images (fpack,
 * as CASU/WSA serve UKIDSS and VISTA) are decompressed. Throws on a broken file, and FitsError UNSUPPORTED
 * when the only images are compressed in a way vocut does not read (PLIO_1, HCOMPRESS_1).
 */
export function decodePlanes(buf: Buffer): DecodedPlane[] {
  const out: DecodedPlane[] = [];
  let unsupported: FitsError | undefined;
  for (const h of listHdus(buf)) {
    const compressed = h.type === "BINTABLE" && isTileCompressed(h.header);
    if (h.type !== "PRIMARY" && h.type !== "IMAGE" && !compressed) continue;
    let header = h.header;
    if (compressed) {
      try {
        tileParams(h.header, h.index);
      } catch (err) {
        if (err instanceof FitsError && err.code === "UNSUPPORTED") {
          unsupported ??= err;
          continue;
        }
        throw err;
      }
      header = imageHeaderOf(h.header, h.index);
    }
    if ((header.getNumber("NAXIS") ?? 0) < 2) continue;
    let wcs: CelestialWcs;
    try {
      wcs = parseWcs(header);
    } catch {
      continue; // no celestial WCS here (an empty primary, a weight map): not a candidate
    }
    if (compressed) {
      const img = decompressImage(h.header, buf.subarray(h.dataOffset, h.dataOffset + h.dataBytes), h.index);
      out.push({
        hdu: h.index,
        width: img.width,
        height: img.height,
        data: img.data as Float64Array,
        header,
        wcs,
      });
      continue;
    }
    const img = readImage(buf, h.index);
    if ((img.depth ?? 1) !== 1) continue;
    out.push({ hdu: h.index, width: img.width, height: img.height, data: img.data, header: h.header, wcs });
  }
  if (out.length === 0 && unsupported !== undefined) throw unsupported;
  return out;
}

/** The plane whose pixel grid contains the position with the largest margin to its nearest edge. */
export function planeContaining(
  planes: readonly DecodedPlane[],
  raDeg: number,
  decDeg: number,
): DecodedPlane | undefined {
  return containing(planes, raDeg, decDeg)?.image;
}
