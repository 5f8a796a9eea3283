import type { Target } from "../../catalog/types.js";
import { usageError } from "../../errors.js";
import { validateFits } from "../../fits/validate.js";
import { checkRaster } from "../../raster/raster.js";
import { fovDeg } from "../geometry.js";
import { interpretFailure, interpretFitsBody } from "../interpret.js";
import type { CutoutRequest, Geometry, HttpResponse, Outcome, RequestSource } from "../source.js";
import { type Hips2fitsImage, hips2fitsImageParams } from "./image-format.js";

/** CDS hips2fits endpoint and its mirror (https://alasky.cds.unistra.fr/hips-image-services/hips2fits). */
export const HIPS2FITS_URL = "https://alasky.cds.unistra.fr/hips-image-services/hips2fits";
export const HIPS2FITS_MIRROR_URL = "https://alaskybis.cds.unistra.fr/hips-image-services/hips2fits";

/** Projections hips2fits accepts (the WCS codes of its documentation). */
export const HIPS2FITS_PROJECTIONS = [
  "TAN",
  "SIN",
  "ARC",
  "AIT",
  "ZEA",
  "STG",
  "CAR",
  "MER",
  "CEA",
  "COO",
  "ZPN",
  "SFL",
  "MOL",
  "PAR",
  "AZP",
  "SZP",
] as const;

/** Serialisable configuration of a hips2fits job (stored in the ledger). */
export interface Hips2fitsConfig extends Hips2fitsImage {
  readonly kind: "hips2fits";
  /** Endpoint URLs, primary first, then mirrors. */
  readonly endpoints: readonly string[];
  /** One HiPS ID per band, e.g. { label: "g", hips: "CDS/P/SDSS9/g" }. */
  readonly hips: ReadonlyArray<{ readonly label: string; readonly hips: string }>;
  readonly geometry: Geometry;
  readonly projection: string;
  readonly coordsys: "icrs" | "galactic";
  readonly rotationAngleDeg: number;
  /** `--moc FILE|URL|auto`: the coverage map of each band (URL or absolute path), checked before any request. */
  readonly moc?: readonly string[];
}

/**
 * Parse `--hips2fits ID[,ID...]`: each item is a HiPS ID (band label = its last path element) or
 * `label=ID`. Throws a usage error on empty or repeated labels.
 */
export function parseHipsList(text: string, flag = "--hips2fits"): Array<{ label: string; hips: string }> {
  const out: Array<{ label: string; hips: string }> = [];
  for (const raw of text.split(",")) {
    const item = raw.trim();
    if (item === "") continue;
    const eq = item.indexOf("=");
    const hips = eq >= 0 ? item.slice(eq + 1).trim() : item;
    const label = eq >= 0 ? item.slice(0, eq).trim() : (hips.replace(/\/+$/, "").split("/").pop() ?? "");
    if (label === "" || hips === "")
      throw usageError("BAD_HIPS", `${flag}: cannot read a band from ${JSON.stringify(item)}`);
    if (out.some((o) => o.label === label)) {
      throw usageError(
        "BAD_HIPS",
        `${flag}: band label ${JSON.stringify(label)} given twice; name them with label=ID`,
      );
    }
    out.push({ label, hips });
  }
  if (out.length === 0) throw usageError("BAD_HIPS", `${flag}: no HiPS given`);
  return out;
}

/** Numbers in URLs: the shortest text that parses back to the same double. */
export const num = (v: number): string => String(v);

/** Server-side HiPS cutouts through the CDS hips2fits service: one GET per target and band. */
export class Hips2fitsSource implements RequestSource {
  readonly kind = "hips2fits";
  readonly bands: readonly string[];
  private readonly config: Hips2fitsConfig;

  constructor(config: Hips2fitsConfig) {
    if (config.endpoints.length === 0) throw usageError("BAD_HIPS2FITS_URL", "hips2fits: no endpoint URL");
    for (const e of config.endpoints) {
      let u: URL;
      try {
        u = new URL(e);
      } catch {
        throw usageError("BAD_HIPS2FITS_URL", `--hips2fits-url ${JSON.stringify(e)} is not a URL`);
      }
      if (u.protocol !== "http:" && u.protocol !== "https:") {
        throw usageError("BAD_HIPS2FITS_URL", `--hips2fits-url ${JSON.stringify(e)} must be http(s)`);
      }
    }
    if (!(HIPS2FITS_PROJECTIONS as readonly string[]).includes(config.projection)) {
      throw usageError(
        "BAD_PROJECTION",
        `--projection ${config.projection}: one of ${HIPS2FITS_PROJECTIONS.join(", ")}`,
      );
    }
    this.config = config;
    this.bands = config.hips.map((h) => h.label);
  }

  describe(): Readonly<Record<string, unknown>> {
    return this.config as unknown as Record<string, unknown>;
  }

  request(target: Target, band: string): CutoutRequest {
    const h = this.config.hips.find((x) => x.label === band);
    if (h === undefined) throw new Error(`internal: unknown band ${band}`);
    const g = this.config.geometry;
    const params = new URLSearchParams({
      hips: h.hips,
      width: String(g.widthPx),
      height: String(g.heightPx),
      projection: this.config.projection,
      fov: num(fovDeg(g)),
      ra: num(target.raDeg),
      dec: num(target.decDeg),
      coordsys: this.config.coordsys,
      rotation_angle: num(this.config.rotationAngleDeg),
      ...hips2fitsImageParams(this.config),
    });
    const [first, ...rest] = this.config.endpoints.map((e) => `${e}?${params.toString()}`);
    return { url: first as string, fallbackUrls: rest };
  }

  interpret(res: HttpResponse): Outcome {
    const format = this.config.format ?? "fits";
    // hips2fits fills pixels outside the survey with NaN, so an all-NaN stamp means no coverage.
    if (format === "fits") return interpretFitsBody(res, { blankIsNoCoverage: true });
    if (res.status === 204) return { kind: "no_coverage", message: "server answered 204 No Content" };
    if (res.status !== 200) return interpretFailure(res);
    // An image must be one (magic bytes, and it decodes): an HTML page with 200 is retried, never saved.
    const why = checkRaster(res.body, format === "png" ? "png" : "jpeg");
    if (why !== undefined)
      return { kind: "retryable", code: "NOT_IMAGE", message: `200 but ${why}`, status: 200 };
    return { kind: "done", body: res.body };
  }

  /** Stamps are saved as .fits, .png or .jpg, by the job's format. */
  extension(): string {
    return `.${this.config.format ?? "fits"}`;
  }

  /** Whether a file a killed run left is a whole stamp of this job's format. */
  adoptable(body: Buffer, ext: string): boolean {
    if (ext === ".png") return checkRaster(body, "png") === undefined;
    if (ext === ".jpg") return checkRaster(body, "jpeg") === undefined;
    return validateFits(body).ok;
  }
}
