import { resolve } from "node:path";
import { Command } from "commander";
import { ExitCode, usageError } from "../../errors.js";
import { mergeShards } from "../../ledger/merge.js";
import { LEDGER_FILE, ledgerPath } from "../config.js";
import { addTableOptions, type OptionsOf } from "../options.js";

/**
 * `vocut merge LEDGER... [--into FILE]`. `--ledger FILE` is `--into` under the name every other command
 * gives the job's ledger: the merged ledger is the one `status`/`fetch`/`export --ledger` then read.
 */
export function mergeCommand(setExit: (code: ExitCode) => void): Command {
  const cmd = new Command("merge")
    .description(
      "combine the ledgers of --shard runs into one ledger of the whole job (for status, export, preview, fetch)",
    )
    .argument("<ledgers...>", "shard ledgers (OUT/vocut.shard-I-of-N.db)");
  return addTableOptions(cmd, "merge").action((parts: string[], o: OptionsOf<"merge">) => {
    // A folder names its vocut.db, as for the other commands' --ledger.
    const asLedger = o.ledger === undefined ? undefined : ledgerPath(o.ledger);
    if (o.into !== undefined && asLedger !== undefined && resolve(o.into) !== resolve(asLedger))
      throw usageError("TWO_LEDGERS", `--into ${o.into} and --ledger ${o.ledger} differ: give one`);
    const s = mergeShards({
      parts: parts.map((p) => ledgerPath(p)),
      into: o.into ?? asLedger,
      ledgerFile: LEDGER_FILE,
      partial: o.partial === true,
    });
    if (o.json === true) process.stdout.write(`${JSON.stringify(s)}\n`);
    else {
      const states = Object.entries(s.byState)
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${n} ${k}`)
        .join(", ");
      process.stdout.write(
        `merged ${s.shards.length} of ${s.count} shard(s) into ${s.into}: ${states || "no tasks"}` +
          (s.missing.length > 0 ? `; missing shard(s) ${s.missing.join(", ")}` : "") +
          "\n",
      );
    }
    setExit(ExitCode.Ok);
  });
}
