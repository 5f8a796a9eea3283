import { Command } from "commander";
import { usageError } from "../../errors.js";
import { EXPORT_FORMATS, type ExportFormat, exportJob } from "../../export/export.js";
import { exportWebDataset } from "../../export/webdataset.js";
import { DEFAULTS } from "../../fetch/defaults.js";
import { jobLedgerPath } from "../config.js";
import { addTableOptions, type OptionsOf } from "../options.js";

/** --format, else the extension of --out (.npy; .fits, .fit, .fts). Throws a usage error. */
export function exportFormat(format: string | undefined, outFile: string): ExportFormat {
  if (format !== undefined) {
    if ((EXPORT_FORMATS as readonly string[]).includes(format)) return format as ExportFormat;
    throw usageError("BAD_OPTION", `--format ${format}: ${EXPORT_FORMATS.join(", ")} or webdataset`);
  }
  if (/\.npy$/i.test(outFile)) return "npy";
  if (/\.(fits|fit|fts)$/i.test(outFile)) return "fits";
  throw usageError(
    "BAD_OPTION",
    `give --format npy|fits|webdataset (cannot tell it from ${JSON.stringify(outFile)})`,
  );
}

/** `vocut export [LEDGER] --format npy|fits --out FILE`: one float32 array of every cutout of a job. */
export function exportCommand(): Command {
  const cmd = new Command("export")
    .description(
      "stack every cutout of a job into one N x bands x H x W float32 array (.npy or FITS cube, NaN where missing) with a sidecar FILE.csv",
    )
    .argument("[ledger]", "ledger file or output folder (default ./vocut.db)");
  return (
    addTableOptions(cmd, "export")
      // Subcommands do not inherit the program's exitOverride: without it a bad flag would exit 1, not 2.
      .exitOverride()
      .action((arg: string | undefined, o: OptionsOf<"export">) => {
        if (o.format === "webdataset") {
          const w = exportWebDataset({
            ledgerFile: jobLedgerPath(arg, o.ledger),
            outDir: o.out,
            shardBytes: DEFAULTS.tarBytes,
            mtimeMs: Date.now(),
          });
          process.stdout.write(
            o.json === true
              ? `${JSON.stringify(w)}\n`
              : `wrote ${w.shards.length} WebDataset shard(s) to ${w.dir}: ${w.samples} sample(s), ${w.stamps} stamp(s), ${w.bytes} bytes\n`,
          );
          return;
        }
        const format = exportFormat(o.format, o.out);
        const s = exportJob({ ledgerFile: jobLedgerPath(arg, o.ledger), outFile: o.out, format });
        if (o.json === true) {
          process.stdout.write(`${JSON.stringify(s)}\n`);
          return;
        }
        const nan = s.shape[0] * s.shape[1] - s.byState.done;
        const notDone = Object.entries(s.byState)
          .filter(([k, n]) => k !== "done" && n > 0)
          .map(([k, n]) => `${n} ${k}`);
        process.stdout.write(
          `wrote ${s.file}: ${s.format} float32 ${s.shape.join(" x ")} (targets x bands ${s.bands.join(",")} x height x width), ` +
            `${s.byState.done} cutout(s), ${nan} NaN stamp(s)${notDone.length > 0 ? ` (${notDone.join(", ")})` : ""}\n` +
            `wrote ${s.csv}\n`,
        );
      })
  );
}
