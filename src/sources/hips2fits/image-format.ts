import { usageError } from "../../errors.js";

/**
 * hips2fits output formats and the image parameters that go with them, as the CDS service documents them
 * (https://alasky.cds.unistra.fr/hips-image-services/hips2fits, also astroquery.hips2fits): `format` fits
 * (default), jpg or png; for jpg/png only, `stretch` (power, linear, sqrt, log, asinh; default linear),
 * `min_cut` and `max_cut` (a pixel value, or a percentile such as 1.5%; defaults 0.5% and 99.5%) and `cmap`
 * (a Matplotlib colour map name; default Greys_r). vocut sends a parameter only when the user gave it.
 */

export type Hips2fitsFormat = "fits" | "png" | "jpg";
export const HIPS2FITS_FORMATS: readonly Hips2fitsFormat[] = ["fits", "png", "jpg"];
export const HIPS2FITS_STRETCHES = ["power", "linear", "sqrt", "log", "asinh"] as const;

/** The image part of a hips2fits job (stored in the ledger; absent keys = the service's defaults). */
export interface Hips2fitsImage {
  readonly format?: Hips2fitsFormat;
  readonly stretch?: string;
  readonly minCut?: string;
  readonly maxCut?: string;
  readonly cmap?: string;
}

/** A cut: a number, or a percentile 0..100 followed by %. */
const CUT = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?%?$/;
/** Matplotlib colour map names: letters, digits, _ . - (e.g. Greys_r, viridis, tab20c, gist_earth). */
const CMAP = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

/**
 * Check `--format`, `--stretch`, `--min-cut`, `--max-cut`, `--cmap` for a hips2fits job. Throws a usage
 * error naming the flag and the allowed values; image parameters with FITS output are refused (the
 * service ignores them, so the user would not get what they asked for).
 */
export function hips2fitsImageFrom(o: {
  readonly format?: string | undefined;
  readonly stretch?: string | undefined;
  readonly minCut?: string | undefined;
  readonly maxCut?: string | undefined;
  readonly cmap?: string | undefined;
}): Hips2fitsImage {
  const format = HIPS2FITS_FORMATS.find((f) => f === (o.format ?? "fits"));
  if (format === undefined) {
    throw usageError("BAD_FORMAT", `--format ${o.format}: hips2fits gives ${HIPS2FITS_FORMATS.join(", ")}`);
  }
  const given = (["stretch", "minCut", "maxCut", "cmap"] as const).filter((k) => o[k] !== undefined);
  if (format === "fits" && given.length > 0) {
    const flags = given.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(", ");
    throw usageError(
      "BAD_OPTION",
      `${flags}: only for --format png or jpg (FITS stamps keep the pixel values)`,
    );
  }
  if (o.stretch !== undefined && !(HIPS2FITS_STRETCHES as readonly string[]).includes(o.stretch)) {
    throw usageError("BAD_OPTION", `--stretch ${o.stretch}: one of ${HIPS2FITS_STRETCHES.join(", ")}`);
  }
  for (const [flag, v] of [
    ["--min-cut", o.minCut],
    ["--max-cut", o.maxCut],
  ] as const) {
    if (v === undefined) continue;
    const pct = v.endsWith("%") ? Number(v.slice(0, -1)) : undefined;
    if (!CUT.test(v) || (pct !== undefined && !(pct >= 0 && pct <= 100))) {
      throw usageError(
        "BAD_OPTION",
        `${flag} ${v}: a pixel value (e.g. 120) or a percentile 0-100% (e.g. 99.5%)`,
      );
    }
  }
  if (o.cmap !== undefined && !CMAP.test(o.cmap)) {
    throw usageError(
      "BAD_OPTION",
      `--cmap ${JSON.stringify(o.cmap)}: a Matplotlib colour map name (e.g. viridis)`,
    );
  }
  const cutOrder = percentOrValue(o.minCut, o.maxCut);
  if (cutOrder !== undefined) throw usageError("BAD_OPTION", cutOrder);
  return {
    ...(format === "fits" ? {} : { format }),
    ...(o.stretch !== undefined ? { stretch: o.stretch } : {}),
    ...(o.minCut !== undefined ? { minCut: o.minCut } : {}),
    ...(o.maxCut !== undefined ? { maxCut: o.maxCut } : {}),
    ...(o.cmap !== undefined ? { cmap: o.cmap } : {}),
  };
}

/** Two cuts of the same kind must be in order; undefined when fine. */
function percentOrValue(min: string | undefined, max: string | undefined): string | undefined {
  if (min === undefined || max === undefined) return undefined;
  if (min.endsWith("%") !== max.endsWith("%")) return undefined;
  const a = Number(min.replace(/%$/, ""));
  const b = Number(max.replace(/%$/, ""));
  return a < b ? undefined : `--min-cut ${min} must be below --max-cut ${max}`;
}

/** The query parameters of the image part, in the service's names. */
export function hips2fitsImageParams(img: Hips2fitsImage): Record<string, string> {
  return {
    format: img.format ?? "fits",
    ...(img.stretch !== undefined ? { stretch: img.stretch } : {}),
    ...(img.minCut !== undefined ? { min_cut: img.minCut } : {}),
    ...(img.maxCut !== undefined ? { max_cut: img.maxCut } : {}),
    ...(img.cmap !== undefined ? { cmap: img.cmap } : {}),
  };
}
