import type { Target } from "../../catalog/types.js";
import { usageError } from "../../errors.js";
import { fovDeg } from "../geometry.js";
import { num } from "../hips2fits/hips2fits-source.js";
import { interpretFitsBody } from "../interpret.js";
import type { CutoutRequest, Geometry, HttpResponse, Outcome, RequestSource } from "../source.js";

/** Placeholders a URL template may use. */
export const TEMPLATE_PLACEHOLDERS = [
  "id",
  "ra",
  "dec",
  "band",
  "size",
  "width",
  "height",
  "sizeArcsec",
  "fovDeg",
  "pixscale",
] as const;

/** Serialisable configuration of a URL-template job. */
export interface TemplateConfig {
  readonly kind: "template";
  readonly template: string;
  readonly bands: readonly string[];
  readonly geometry: Geometry;
  /** `--moc`: the coverage map of each band (URL or absolute path), checked before any request. */
  readonly moc?: readonly string[];
}

/**
 * Any cutout service through a URL template, e.g.
 * `https://www.legacysurvey.org/viewer/fits-cutout?ra={ra}&dec={dec}&size={size}&layer=ls-dr10&pixscale={pixscale}&bands={band}`.
 * Values are URL-encoded; `{size}` is the larger side in pixels.
 */
export class TemplateSource implements RequestSource {
  readonly kind = "template";
  readonly bands: readonly string[];
  private readonly config: TemplateConfig;

  constructor(config: TemplateConfig) {
    const names = [...config.template.matchAll(/\{([^}]*)\}/g)].map((m) => m[1] ?? "");
    for (const n of names) {
      if (!(TEMPLATE_PLACEHOLDERS as readonly string[]).includes(n)) {
        throw usageError(
          "BAD_TEMPLATE",
          `--url: unknown placeholder {${n}} (known: ${TEMPLATE_PLACEHOLDERS.map((p) => `{${p}}`).join(" ")})`,
        );
      }
    }
    if (!names.includes("ra") && !names.includes("id")) {
      throw usageError(
        "BAD_TEMPLATE",
        "--url must contain {ra} and {dec} (or {id}), or every target asks for the same thing",
      );
    }
    if (config.bands.length > 1 && !names.includes("band")) {
      throw usageError("BAD_TEMPLATE", "--url must contain {band} when --bands lists more than one band");
    }
    const probe = config.template.replace(/\{[^}]*\}/g, "0");
    let u: URL;
    try {
      u = new URL(probe);
    } catch {
      throw usageError("BAD_TEMPLATE", `--url ${JSON.stringify(config.template)} is not a URL`);
    }
    if (!["http:", "https:", "file:"].includes(u.protocol)) {
      throw usageError("BAD_TEMPLATE", "--url must be http(s):// or file://");
    }
    this.config = config;
    this.bands = config.bands;
  }

  describe(): Readonly<Record<string, unknown>> {
    return this.config as unknown as Record<string, unknown>;
  }

  request(target: Target, band: string): CutoutRequest {
    const g = this.config.geometry;
    const values: Record<(typeof TEMPLATE_PLACEHOLDERS)[number], string> = {
      id: target.id,
      ra: num(target.raDeg),
      dec: num(target.decDeg),
      band,
      size: String(Math.max(g.widthPx, g.heightPx)),
      width: String(g.widthPx),
      height: String(g.heightPx),
      sizeArcsec: num(Math.max(g.widthPx, g.heightPx) * g.pixscaleArcsec),
      fovDeg: num(fovDeg(g)),
      pixscale: num(g.pixscaleArcsec),
    };
    const url = this.config.template.replace(/\{([^}]*)\}/g, (_, k: string) =>
      encodeURIComponent(values[k as keyof typeof values]),
    );
    return { url };
  }

  interpret(res: HttpResponse): Outcome {
    return interpretFitsBody(res, { blankIsNoCoverage: false });
  }
}
