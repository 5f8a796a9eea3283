import { isAbsolute, join, normalize, relative, sep } from "node:path";
import { usageError } from "../errors.js";
import { safeId } from "./safe-name.js";

/** Default output layout: one folder per band, one file per target. */
export const DEFAULT_LAYOUT = "{band}/{id}.fits";

const PLACEHOLDERS = new Set(["band", "id", "row", "ext"]);

/** The file extension of a cutout, and of `{ext}` in layouts unless a product says otherwise. */
export const FITS_EXT = ".fits";

/**
 * Check a `--layout` template: only {band}, {id}, {row}, {ext} (".fits" for cutouts; a product's own
 * extension for archive products, e.g. ".fits", ".tar"); must name the target ({id} or {row}) and, with
 * more than one band, {band}; must be relative. Throws a usage error (exit 2) otherwise.
 */
export function checkLayout(layout: string, bandCount: number): void {
  const names = [...layout.matchAll(/\{([^}]*)\}/g)].map((m) => m[1] ?? "");
  for (const n of names) {
    if (!PLACEHOLDERS.has(n))
      throw usageError("BAD_LAYOUT", `--layout: unknown placeholder {${n}} (use {band}, {id}, {row}, {ext})`);
  }
  if (!names.includes("id") && !names.includes("row")) {
    throw usageError(
      "BAD_LAYOUT",
      "--layout must contain {id} or {row}, or every target would write the same file",
    );
  }
  if (bandCount > 1 && !names.includes("band")) {
    throw usageError("BAD_LAYOUT", "--layout must contain {band} when there is more than one band");
  }
  if (isAbsolute(layout) || normalize(layout).split(sep).includes("..")) {
    throw usageError("BAD_LAYOUT", "--layout must be a relative path inside --out without '..'");
  }
}

/**
 * The output path of one task, relative to the output folder. `safeIdValue` must come from safeId(); the
 * band label is made safe here too; `ext` must come from a fixed list (productExt). A layout without {ext}
 * that ends in ".fits" (the default) names the file format there: a PNG or JPEG stamp gets its own
 * extension in its place. The result is checked to stay inside the folder.
 */
export function outputRelPath(
  layout: string,
  band: string,
  safeIdValue: string,
  row: number,
  ext: string = FITS_EXT,
): string {
  const template =
    ext !== FITS_EXT && layout.endsWith(FITS_EXT) && !layout.includes("{ext}")
      ? `${layout.slice(0, -FITS_EXT.length)}{ext}`
      : layout;
  const rel = template.replace(/\{(band|id|row|ext)\}/g, (_, k: string) =>
    k === "band" ? safeId(band) : k === "id" ? safeIdValue : k === "ext" ? ext : String(row),
  );
  const norm = normalize(rel);
  if (isAbsolute(norm) || norm.startsWith(`..${sep}`) || norm === "..") {
    throw new Error(`internal: output path ${JSON.stringify(rel)} escapes the output folder`);
  }
  return norm;
}

/** Join an output folder and a relative path, refusing anything that resolves outside the folder. */
export function insideDir(dir: string, rel: string): string {
  const full = join(dir, rel);
  const back = relative(dir, full);
  if (back.startsWith("..") || isAbsolute(back)) throw new Error(`internal: ${rel} escapes ${dir}`);
  return full;
}
