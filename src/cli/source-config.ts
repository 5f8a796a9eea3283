/**
 * The job's source from the flags: `--preset`, `--hips2fits`, `--hips`, `--sia`, `--url` or `--images`,
 * with the size, pixel scale, image format, grid and coverage (MOC) flags that go with each.
 */
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { usageError } from "../errors.js";
import { expandPreset } from "../presets/expand.js";
import { MOCSERVER_URL, mocServerUrl } from "../sources/coverage.js";
import type { CutoutSourceConfig } from "../sources/create-source.js";
import { parsePixscale, parseSize } from "../sources/geometry.js";
import { parseHipsLocations } from "../sources/hips/hips-source.js";
import { HIPS2FITS_MIRROR_URL, HIPS2FITS_URL, parseHipsList } from "../sources/hips2fits/hips2fits-source.js";
import { hips2fitsImageFrom } from "../sources/hips2fits/image-format.js";
import { imagesConfigFrom } from "../sources/images/images-source.js";
import type { SiaBand } from "../sources/sia/query.js";
import type { SiaConfig } from "../sources/sia/sia-source.js";
import type { JobFlags } from "./config.js";
import { DEFAULT_PIXSCALE, DEFAULT_SIZE } from "./options.js";

/**
 * Build the job's source configuration from `--preset`, `--hips2fits`, `--hips` or `--url`. A preset is
 * expanded into those flags first (src/presets/expand.ts); size and pixel scale come from the flag, else
 * the preset, else DEFAULT_SIZE/DEFAULT_PIXSCALE. Throws a usage error.
 */
export function sourceConfigFrom(raw: JobFlags): CutoutSourceConfig {
  const expansion = expandPreset(raw);
  const o: JobFlags = expansion === undefined ? raw : { ...raw, ...expansion };
  const { widthPx, heightPx } = parseSize(o.size ?? DEFAULT_SIZE);
  const geometry = { widthPx, heightPx, pixscaleArcsec: parsePixscale(o.pixscale ?? DEFAULT_PIXSCALE) };
  const given = [o.hips2fits, o.url, o.hips, o.sia, o.images].filter((v) => v !== undefined).length;
  if (given !== 1) {
    throw usageError(
      "NO_SOURCE",
      "give exactly one source: --preset NAME, --hips2fits IDS, --hips URL|DIR, --sia URL, --url TEMPLATE --bands LIST, or --images DIR",
    );
  }
  const imageFlags = [o.stretch, o.minCut, o.maxCut, o.cmap].some((v) => v !== undefined);
  if (o.hips2fits === undefined && imageFlags) {
    throw usageError(
      "BAD_OPTION",
      "--stretch, --min-cut, --max-cut and --cmap are hips2fits parameters (--hips2fits)",
    );
  }
  if (o.hips2fits === undefined && o.hips === undefined && o.format !== undefined && o.format !== "fits") {
    throw usageError("BAD_FORMAT", `--format ${o.format}: this source gives FITS stamps only`);
  }
  if (o.grid !== "hips2fits" && o.grid !== "centred")
    throw usageError("BAD_OPTION", `--grid ${o.grid}: hips2fits or centred`);
  if (o.grid !== "hips2fits" && o.hips === undefined)
    throw usageError(
      "BAD_OPTION",
      `--grid ${o.grid} applies to --hips only: the other sources keep their service's grid`,
    );
  if (o.sia !== undefined) return { ...siaConfigFrom(o, geometry), ...mocFrom(o, undefined) };
  if (o.images !== undefined) {
    if (o.moc !== undefined)
      throw usageError("BAD_MOC", "--moc does not apply to --images: the images are the coverage");
    if (o.pixscale !== undefined)
      throw usageError(
        "BAD_OPTION",
        "--pixscale does not apply to --images: stamps keep the images' own pixels",
      );
    return imagesConfigFrom({ ...o, images: o.images, widthPx, heightPx });
  }
  if (o.hips !== undefined) {
    if (o.interp !== "nearest" && o.interp !== "bilinear")
      throw usageError("BAD_OPTION", `--interp ${o.interp}: nearest or bilinear`);
    if (o.format !== undefined && o.format !== "fits" && o.format !== "png") {
      throw usageError("BAD_FORMAT", `--format ${o.format}: --hips writes fits or png stamps`);
    }
    const hips = parseHipsLocations(o.hips);
    return {
      kind: "hips",
      hips,
      geometry,
      interp: o.interp,
      grid: o.grid,
      ...(o.format === "fits" || o.format === "png" ? { format: o.format } : {}),
      ...mocFrom(o, hips),
    };
  }

  if (o.hips2fits !== undefined) {
    if (o.coordsys !== "icrs" && o.coordsys !== "galactic") {
      throw usageError("BAD_OPTION", `--coordsys ${o.coordsys}: icrs or galactic`);
    }
    const rotation = Number(o.rotation);
    if (!Number.isFinite(rotation)) throw usageError("BAD_OPTION", `--rotation ${o.rotation}: degrees`);
    const endpoints =
      o.hips2fitsUrl === undefined
        ? [HIPS2FITS_URL, HIPS2FITS_MIRROR_URL]
        : o.hips2fitsUrl
            .split(",")
            .map((s) => s.trim())
            .filter((s) => s !== "");
    const hips = parseHipsList(o.hips2fits);
    return {
      kind: "hips2fits",
      endpoints,
      hips,
      geometry,
      projection: o.projection,
      coordsys: o.coordsys,
      rotationAngleDeg: rotation,
      ...hips2fitsImageFrom(o),
      ...mocFrom(o, hips),
    };
  }
  const bands = o.bands
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (bands.length === 0)
    throw usageError(
      "NO_BANDS",
      "--url needs --bands (e.g. --bands g,r,z; one label for a single-band service)",
    );
  if (new Set(bands).size !== bands.length) throw usageError("NO_BANDS", "--bands lists a band twice");
  return { kind: "template", template: o.url as string, bands, geometry, ...mocFrom(o, undefined) };
}

/**
 * `--moc FILE|URL|auto|none` as the job's coverage maps, one location per band (or one for all): a URL,
 * or a local file made absolute. `auto` asks the CDS MocServer for each --hips2fits survey's MOC (for
 * --hips it is the default: each survey's own Moc.fits); `none` turns the --hips default off. Throws a
 * usage error for a missing file or an `auto` that cannot apply.
 */
function mocFrom(
  o: JobFlags,
  hips: ReadonlyArray<{ label: string; hips?: string; location?: string }> | undefined,
): { moc?: readonly string[] } {
  const m = o.moc?.trim();
  if (m === undefined) return {};
  if (m === "none") return { moc: [] };
  if (m === "auto") {
    const ids = hips?.map((h) => h.hips);
    if (hips !== undefined && hips[0]?.location !== undefined) return {}; // --hips: the survey's Moc.fits
    if (ids === undefined || ids.some((id) => id === undefined))
      throw usageError(
        "BAD_MOC",
        "--moc auto needs --hips2fits (the MocServer knows HiPS IDs) or --hips; give --moc FILE|URL",
      );
    const base = o.mocserverUrl ?? MOCSERVER_URL;
    if (!/^https?:\/\//.test(base))
      throw usageError("BAD_MOC", `--mocserver-url ${JSON.stringify(base)}: an http(s) URL`);
    return { moc: (ids as string[]).map((id) => mocServerUrl(base, id)) };
  }
  if (/^https?:\/\//.test(m)) return { moc: [m] };
  const path = resolve(m.startsWith("file:") ? fileURLToPath(m) : m);
  if (!existsSync(path) || !statSync(path).isFile())
    throw usageError(
      "BAD_MOC",
      `--moc ${JSON.stringify(m)}: no such file (a MOC FITS file, a URL, auto or none)`,
    );
  return { moc: [path] };
}

/** `--sia URL` and its options into a SIA job configuration. Throws a usage error. */
function siaConfigFrom(o: JobFlags, geometry: SiaConfig["geometry"]): SiaConfig {
  const url = o.sia as string;
  if (!/^https?:\/\//.test(url)) throw usageError("BAD_SIA", `--sia ${JSON.stringify(url)}: an http(s) URL`);
  const version = o.siaVersion === "1" ? 1 : o.siaVersion === "2" ? 2 : undefined;
  if (version === undefined) throw usageError("BAD_OPTION", `--sia-version ${o.siaVersion}: 1 or 2`);
  const bands: SiaBand[] = [];
  for (const item of (o.band ?? "")
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "")) {
    const m = /^([A-Za-z0-9_.+-]+)=([-+0-9.eE]+):([-+0-9.eE]+)$/.exec(item);
    const lo = Number(m?.[2]);
    const hi = Number(m?.[3]);
    if (m === null || !(lo > 0) || !(hi > lo)) {
      throw usageError(
        "BAD_BAND",
        `--band ${JSON.stringify(item)}: label=lo:hi in metres, lo < hi (e.g. H=1.49e-6:1.78e-6)`,
      );
    }
    bands.push({ label: m[1] as string, loM: lo, hiM: hi });
  }
  for (const label of o.bands
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "")) {
    if (!bands.some((b) => b.label === label)) bands.push({ label });
  }
  if (new Set(bands.map((b) => b.label)).size !== bands.length)
    throw usageError("BAD_BAND", "a band is named twice");
  if (version === 2 && bands.some((b) => b.loM === undefined) && bands.length > 0 && o.band === undefined) {
    // SIA 2 answers (ObsCore) name no bandpass: a band needs its wavelength window.
    throw usageError("BAD_BAND", "--sia-version 2 selects bands by wavelength: give --band label=lo:hi,...");
  }
  const pick = o.pick;
  if (pick !== "margin" && pick !== "first")
    throw usageError("BAD_OPTION", `--pick ${pick}: margin or first`);
  let maxrec: number | undefined;
  if (o.maxrec !== undefined) {
    maxrec = Number(o.maxrec);
    if (!Number.isInteger(maxrec) || maxrec < 1)
      throw usageError("BAD_OPTION", `--maxrec ${o.maxrec}: a whole number >= 1`);
  }
  return {
    kind: "sia",
    version,
    url,
    bands,
    geometry,
    pick,
    partial: o.partial !== false,
    ...(o.collection === undefined ? {} : { collection: o.collection }),
    ...(maxrec === undefined ? {} : { maxrec }),
  };
}
