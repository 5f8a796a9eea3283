import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { readImage } from "../../src/fits/image.js";
import { validateFits } from "../../src/fits/validate.js";

/**
 * Answers a killed run left whole in its temp folders (OUT/.vocut-tmp*): every file there that is a
 * complete FITS file, whatever its name (a kill -9 leaves answers waiting for their group sync whole in
 * the page cache; one still being written is short). Each is named by its HIPS card and CRVAL1, the
 * product a hips2fits test server answered with.
 */
export function wholeTempAnswers(out: string): Array<{ hips: string; raDeg: number }> {
  const found: Array<{ hips: string; raDeg: number }> = [];
  if (!existsSync(out)) return found;
  for (const d of readdirSync(out)) {
    if (!d.startsWith(".vocut-tmp")) continue;
    for (const name of readdirSync(join(out, d))) {
      const body = readFileSync(join(out, d, name));
      if (!validateFits(body).ok) continue;
      const h = readImage(body).header;
      found.push({ hips: h.getString("HIPS") ?? "", raDeg: h.getNumber("CRVAL1") ?? Number.NaN });
    }
  }
  return found;
}
