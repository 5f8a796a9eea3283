import { Command } from "commander";
import { usageError } from "../../errors.js";
import { previewJob } from "../../preview/preview.js";
import { jobLedgerPath } from "../config.js";
import { addTableOptions, type OptionsOf } from "../options.js";

/** --max N: a positive integer. */
function parseMax(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1)
    throw usageError("BAD_OPTION", `--max ${text}: a positive integer`);
  return Number(text);
}

/** --rgb R,G,B: exactly three band names. */
function parseRgb(text: string): [string, string, string] {
  const parts = text.split(",").map((s) => s.trim());
  if (parts.length !== 3 || parts.some((p) => p === "")) {
    throw usageError("BAD_OPTION", `--rgb ${text}: three bands for red,green,blue (e.g. --rgb i,r,g)`);
  }
  return parts as [string, string, string];
}

/** `vocut preview [LEDGER] --out sheet.png [--band B | --rgb R,G,B] [--max N] [--ids]`: a contact sheet. */
export function previewCommand(): Command {
  const cmd = new Command("preview")
    .description(
      "draw a PNG contact sheet of a job's stamps in catalog order (grey box with a red X where missing)",
    )
    .argument("[ledger]", "ledger file or output folder (default ./vocut.db)");
  return addTableOptions(cmd, "preview")
    .exitOverride()
    .action((arg: string | undefined, o: OptionsOf<"preview">) => {
      if (o.band !== undefined && o.rgb !== undefined) {
        throw usageError("BAD_OPTION", "give --band or --rgb, not both");
      }
      const s = previewJob({
        ledgerFile: jobLedgerPath(arg, o.ledger),
        outFile: o.out,
        ...(o.band !== undefined ? { band: o.band } : {}),
        ...(o.rgb !== undefined ? { rgb: parseRgb(o.rgb) } : {}),
        max: parseMax(o.max),
        ids: o.ids === true,
      });
      if (o.json === true) {
        process.stdout.write(`${JSON.stringify(s)}\n`);
        return;
      }
      process.stdout.write(
        `wrote ${s.file}: ${s.width} x ${s.height} px, ${s.stamps} stamp(s) in ${s.columns} x ${s.rows} ` +
          `(x${s.scale}, ${s.bands.length === 3 ? `rgb ${s.bands.join(",")}` : `band ${s.bands[0]}`}), ` +
          `${s.missing} missing\n`,
      );
    });
}
