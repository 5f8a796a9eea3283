import { Command } from "commander";
import { PRESETS, type Preset, presetBands } from "../../presets/presets.js";
import { addTableOptions, type OptionsOf } from "../options.js";

/** One preset as `vocut presets --json` prints it. */
export function presetJson(p: Preset): Record<string, unknown> {
  const s = p.source;
  return {
    name: p.name,
    kind: s.kind,
    bands: presetBands(p),
    sizePx: p.sizePx,
    pixscaleArcsec: p.pixscaleArcsec,
    title: p.title,
    docs: p.docs,
    ...(s.kind === "hips2fits" ? { hips: s.hips } : {}),
    ...(s.kind === "template" ? { template: s.template } : {}),
    ...(s.kind === "unavailable" ? { unavailable: s.reason } : {}),
    ...(p.note === undefined ? {} : { note: p.note }),
  };
}

/** The table `vocut presets` prints: name, source kind, bands, pixel scale, size, what it is. */
export function presetLines(presets: readonly Preset[] = PRESETS): string[] {
  const rows = presets.map((p) => [
    p.name,
    p.source.kind,
    presetBands(p).join(","),
    `${p.pixscaleArcsec}"/px`,
    `${p.sizePx}px`,
    p.title,
  ]);
  const widths = rows[0]?.slice(0, -1).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows.map((r) =>
    r.map((cell, i) => (i < widths.length ? cell.padEnd(widths[i] ?? 0) : cell)).join("  "),
  );
}

/** `vocut presets [--json]`: list the survey presets `--preset` accepts. */
export function presetsCommand(): Command {
  const cmd = new Command("presets").description(
    "list the survey presets for --preset (source, bands, pixel scale, size, documentation)",
  );
  return addTableOptions(cmd, "presets").action((o: OptionsOf<"presets">) => {
    process.stdout.write(
      o.json === true
        ? `${JSON.stringify(PRESETS.map(presetJson), null, 2)}\n`
        : `${presetLines().join("\n")}\n`,
    );
  });
}
