#!/usr/bin/env node
import { realpathSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve as resolvePath } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, CommanderError } from "commander";
import { EXIT_CODE_HELP, ExitCode, usageError, VocutError } from "../errors.js";
import { parseLedgerJournal } from "../ledger/journal.js";
import { VERSION } from "../version.js";
import { exportCommand } from "./commands/export.js";
import { obscoreCommand } from "./commands/obscore.js";
import { presetsCommand } from "./commands/presets.js";
import { previewCommand } from "./commands/preview.js";
import { jobLedgerPath, jobSpecFrom, ledgerPath, runConfigFrom } from "./config.js";
import { dryRun } from "./dry-run.js";
import { execute } from "./execute.js";
import { mergeCommand } from "./merge.js";
import { guardRepeats } from "./option-spec.js";
import { addTableOptions, type OptionsOf } from "./options.js";
import { printStatus, readStatus } from "./status.js";

const EXIT_HELP = `\nExit codes:\n${EXIT_CODE_HELP.map(([c, t]) => `  ${c}  ${t}`).join("\n")}\n`;

/** Build the commander program. Commands resolve to an exit code; only main() ends the process. */
export function buildProgram(setExit: (code: ExitCode) => void): Command {
  const program = new Command("vocut")
    .description(
      "Bulk astronomical cutouts: catalog in, validated FITS out; polite to servers; resumable at any moment.",
    )
    .version(VERSION)
    .addHelpText("after", EXIT_HELP)
    .exitOverride()
    .showHelpAfterError("(vocut --help lists the commands)");

  const run = new Command("run")
    .description("plan a catalog into the ledger and fetch every cutout; the same command again resumes")
    .argument("<catalog>", "CSV/TSV, VOTable or FITS table with RA/Dec columns");
  addTableOptions(run, "run").addHelpText("after", EXIT_HELP);
  run.action(async (catalog: string, o: OptionsOf<"run">) =>
    setExit(await planAndMaybeFetch(catalog, o, true)),
  );
  program.addCommand(run);

  const plan = new Command("plan")
    .description("plan only: write the tasks into the ledger; --dry-run prints every request without any I/O")
    .argument("<catalog>", "CSV/TSV, VOTable or FITS table");
  addTableOptions(plan, "plan");
  plan.action(async (catalog: string, o: OptionsOf<"plan">) => {
    if (o.dryRun === true) {
      setExit(await dryRun(catalog, o));
      return;
    }
    setExit(await planAndMaybeFetch(catalog, o, false));
  });
  program.addCommand(plan);

  const status = new Command("status")
    .description(
      "counts by state and band, progress, rate, ETA and failures of a job (exit 0 settled, 4 permanent failures, 5 work left)",
    )
    .argument("[ledger]", "ledger file or output folder (default ./vocut.db)");
  addTableOptions(status, "status");
  status.action((arg: string | undefined, o: OptionsOf<"status">) => {
    const journal = parseLedgerJournal(o.ledgerJournal);
    setExit(
      printStatus(
        readStatus(jobLedgerPath(arg, o.ledger), Number(o.failures) || 20, journal),
        o.json === true,
      ),
    );
  });
  program.addCommand(status);

  const fetch = new Command("fetch")
    .description("resume a planned job from its ledger alone (no catalog needed)")
    .argument("[ledger]", "ledger file or output folder (default ./vocut.db)");
  addTableOptions(fetch, "fetch");
  fetch.action(async (arg: string | undefined, o: OptionsOf<"fetch">) =>
    setExit(await resumeFromLedger(arg, o, false)),
  );
  program.addCommand(fetch);

  const retry = new Command("retry")
    .description(
      "put failed tasks back in the queue and fetch them (retryable failures; --permanent for those too)",
    )
    .argument("[ledger]", "ledger file or output folder (default ./vocut.db)");
  addTableOptions(retry, "retry");
  retry.action(async (arg: string | undefined, o: OptionsOf<"retry">) =>
    setExit(await resumeFromLedger(arg, o, o.permanent === true)),
  );
  program.addCommand(retry);
  program.addCommand(presetsCommand());
  program.addCommand(exportCommand());
  program.addCommand(previewCommand());
  program.addCommand(obscoreCommand(setExit));
  program.addCommand(mergeCommand(setExit));
  // exitOverride is not inherited through addCommand: without this, commander's own usage errors in
  // a subcommand (unknown option, missing argument) would exit 1 instead of the documented 2.
  // Every option of every command, hand-written ones included, gets the same repeat rule here.
  for (const c of program.commands) {
    c.exitOverride();
    guardRepeats(c);
  }
  return program;
}

/** `fetch` and `retry`: the job comes from the ledger alone; retry also requeues permanent failures. */
function resumeFromLedger(
  arg: string | undefined,
  o: OptionsOf<"fetch">,
  requeuePermanent: boolean,
): Promise<ExitCode> {
  return execute({
    ledgerFile: jobLedgerPath(arg, o.ledger),
    plan: false,
    fetch: true,
    strict: false,
    requeuePermanent,
    run: runConfigFrom(o),
  });
}

/** `run` (plan + fetch) and `plan` (plan only; politeness flags take their defaults). */
function planAndMaybeFetch(
  catalog: string,
  o: OptionsOf<"plan"> | OptionsOf<"run">,
  fetch: boolean,
): Promise<ExitCode> {
  const out = requireOut(o);
  const spec = jobSpecFrom(catalog, o);
  return execute({
    spec,
    ledgerFile: ledgerPath(o.ledger, out, spec.shard),
    outDir: out,
    plan: true,
    fetch,
    strict: o.strict === true,
    run: runConfigFrom(o),
  });
}

function requireOut(o: { out?: string }): string {
  if (o.out === undefined || o.out === "") throw usageError("NO_OUT", "--out DIR is required");
  return o.out;
}

/** The process boundary: run the program, map every outcome to an exit code. */
export async function main(argv: readonly string[]): Promise<ExitCode> {
  let code: ExitCode = ExitCode.Ok;
  const program = buildProgram((c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv as string[]);
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0; real usage errors were already printed by commander.
      return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    }
    if (err instanceof VocutError) {
      process.stderr.write(`vocut: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`vocut: internal error: ${(err as Error).stack ?? String(err)}\n`);
    return ExitCode.Internal;
  }
}

/**
 * Whether this module is the program node was asked to run (resolved as node resolves its main script,
 * symlinks followed), rather than imported: tests build the program in-process with buildProgram().
 * When in doubt, it is.
 */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return true;
  try {
    const entry = realpathSync(createRequire(import.meta.url).resolve(resolvePath(script)));
    return entry === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return true;
  }
}

/**
 * Work a run abandoned when it stopped (a file sync the kernel never finishes, after the watchdog or a
 * signal gave up waiting for it) would keep the process alive after its exit code was decided. The
 * timer is unref'd: a process with nothing left to do ends at once, as before.
 */
const ABANDONED_WORK_EXIT_MS = 1_000;

if (isEntryPoint()) {
  // `vocut plan --dry-run ... | head`: the reader went away; stop quietly like other Unix tools.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw err;
  });

  main(process.argv).then(
    (code) => {
      process.exitCode = code;
      setTimeout(() => process.exit(code), ABANDONED_WORK_EXIT_MS).unref();
    },
    (err: unknown) => {
      process.stderr.write(`vocut: internal error: ${String(err)}\n`);
      process.exitCode = ExitCode.Internal;
    },
  );
}
