import { Command } from "commander";
import type { ExitCode } from "../../errors.js";
import { resumeFromLedger } from "../execute.js";
import { addTableOptions, type OptionsOf } from "../options.js";

const LEDGER_ARG = "ledger file or output folder (default ./vocut.db)";

/** `vocut fetch [LEDGER]`: resume a planned job from its ledger alone. */
export function fetchCommand(setExit: (code: ExitCode) => void): Command {
  const cmd = new Command("fetch")
    .description("resume a planned job from its ledger alone (no catalog needed)")
    .argument("[ledger]", LEDGER_ARG);
  return addTableOptions(cmd, "fetch").action(async (arg: string | undefined, o: OptionsOf<"fetch">) =>
    setExit(await resumeFromLedger(arg, o, false)),
  );
}

/** `vocut retry [LEDGER]`: failed tasks back in the queue (permanent ones too with --permanent), then fetch. */
export function retryCommand(setExit: (code: ExitCode) => void): Command {
  const cmd = new Command("retry")
    .description(
      "put failed tasks back in the queue and fetch them (retryable failures; --permanent for those too)",
    )
    .argument("[ledger]", LEDGER_ARG);
  return addTableOptions(cmd, "retry").action(async (arg: string | undefined, o: OptionsOf<"retry">) =>
    setExit(await resumeFromLedger(arg, o, o.permanent === true)),
  );
}
