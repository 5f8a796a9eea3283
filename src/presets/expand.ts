import { usageError } from "../errors.js";
import { findPreset, PRESETS, presetBands } from "./presets.js";

/** The flags a preset reads and fills in (a subset of the CLI's RawOptions). */
export interface PresetFlags {
  preset?: string;
  hips2fits?: string;
  url?: string;
  hips?: string;
  bands: string;
  /** Undefined when the user did not give --size (the option has no commander default). */
  size?: string;
  pixscale?: string;
}

/** What a preset puts in place of the flags the user left out. */
export interface PresetExpansion {
  hips2fits?: string;
  url?: string;
  bands: string;
  size: string;
  pixscale: string;
}

const splitList = (text: string) =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");

/**
 * Expand `--preset NAME` into source flags: hips2fits presets become `--hips2fits label=ID,...`, template
 * presets `--url TEMPLATE --bands ...`. Explicit `--size`/`--pixscale` win over the preset's; `--bands`
 * picks a subset of a hips2fits preset's bands (in the order given) or replaces a template preset's band
 * list. A source flag (--hips2fits/--url/--hips) next to --preset is a usage error, as are unknown presets
 * and presets vocut cannot run yet. Returns undefined without --preset.
 */
export function expandPreset(o: PresetFlags): PresetExpansion | undefined {
  if (o.preset === undefined) return undefined;
  const p = findPreset(o.preset);
  if (p === undefined) {
    throw usageError(
      "UNKNOWN_PRESET",
      `--preset ${JSON.stringify(o.preset)}: unknown preset; one of ${PRESETS.map((x) => x.name).join(", ")} (vocut presets lists them)`,
    );
  }
  const clash = (["hips2fits", "url", "hips"] as const).filter((k) => o[k] !== undefined);
  if (clash.length > 0) {
    throw usageError(
      "PRESET_AND_SOURCE",
      `--preset ${p.name} sets the source; drop ${clash.map((k) => `--${k}`).join(", ")} or the preset`,
    );
  }
  const src = p.source;
  if (src.kind === "unavailable") throw usageError("PRESET_UNAVAILABLE", src.reason);
  const size = o.size ?? String(p.sizePx);
  const pixscale = o.pixscale ?? String(p.pixscaleArcsec);
  const wanted = splitList(o.bands);
  if (src.kind === "template") {
    return { url: src.template, bands: wanted.length > 0 ? o.bands : src.bands.join(","), size, pixscale };
  }
  let hips = src.hips;
  if (wanted.length > 0) {
    const unknown = wanted.filter((b) => !src.hips.some((h) => h.label === b));
    if (unknown.length > 0) {
      throw usageError(
        "NO_BANDS",
        `--bands ${unknown.join(",")}: preset ${p.name} has bands ${presetBands(p).join(",")}`,
      );
    }
    hips = wanted.map((b) => src.hips.find((h) => h.label === b) as (typeof src.hips)[number]);
  }
  return {
    hips2fits: hips.map((h) => `${h.label}=${h.hips}`).join(","),
    bands: "",
    size,
    pixscale,
  };
}
