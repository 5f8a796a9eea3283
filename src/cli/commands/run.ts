import { Command } from "commander";
import type { ExitCode } from "../../errors.js";
import { planAndMaybeFetch } from "../execute.js";
import { addTableOptions, type OptionsOf } from "../options.js";
import { dryRun } from "./dry-run.js";

/** `vocut run CATALOG --out DIR ...`: plan into the ledger and fetch; the same command again resumes. */
export function runCommand(setExit: (code: ExitCode) => void, exitHelp: string): Command {
  const cmd = new Command("run")
    .description("plan a catalog into the ledger and fetch every cutout; the same command again resumes")
    .argument("<catalog>", "CSV/TSV, VOTable or FITS table with RA/Dec columns");
  return addTableOptions(cmd, "run")
    .addHelpText("after", exitHelp)
    .action(async (catalog: string, o: OptionsOf<"run">) =>
      setExit(await planAndMaybeFetch(catalog, o, true)),
    );
}

/** `vocut plan CATALOG --out DIR`: plan only; `--dry-run` prints every request and touches nothing. */
export function planCommand(setExit: (code: ExitCode) => void): Command {
  const cmd = new Command("plan")
    .description("plan only: write the tasks into the ledger; --dry-run prints every request without any I/O")
    .argument("<catalog>", "CSV/TSV, VOTable or FITS table");
  return addTableOptions(cmd, "plan").action(async (catalog: string, o: OptionsOf<"plan">) => {
    if (o.dryRun === true) setExit(await dryRun(catalog, o));
    else setExit(await planAndMaybeFetch(catalog, o, false));
  });
}
