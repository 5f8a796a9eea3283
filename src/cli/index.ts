#!/usr/bin/env node
import { realpathSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve as resolvePath } from "node:path";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { Command, CommanderError } from "commander";
import { EXIT_CODE_HELP, ExitCode, VocutError } from "../errors.js";
import { VERSION } from "../version.js";
import { exportCommand } from "./commands/export.js";
import { mergeCommand } from "./commands/merge.js";
import { obscoreCommand } from "./commands/obscore.js";
import { presetsCommand } from "./commands/presets.js";
import { previewCommand } from "./commands/preview.js";
import { fetchCommand, retryCommand } from "./commands/resume.js";
import { planCommand, runCommand } from "./commands/run.js";
import { statusCommand } from "./commands/status.js";
import { guardRepeats } from "./option-spec.js";

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

  program.addCommand(runCommand(setExit, EXIT_HELP));
  program.addCommand(planCommand(setExit));
  program.addCommand(statusCommand(setExit));
  program.addCommand(fetchCommand(setExit));
  program.addCommand(retryCommand(setExit));
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

/**
 * undici parses HTTP with llhttp compiled to WebAssembly, which V8 compiles twice: at once with Liftoff,
 * then again with TurboFan on a helper thread, and a process that ends waits for that compile. That was
 * 90-130 ms at the end of every `vocut run` here (on an idle machine) and as much CPU; with Liftoff's code
 * alone a 5,000-file run also used about 5% less CPU. The flag is known to V8 11 to 13 (Node 20 to 24);
 * elsewhere it is not set (V8 prints an error for a flag it does not know). Set before the first
 * connection, when undici compiles the parser.
 */
function compileWasmOnce(): void {
  if (/^1[1-3]\./.test(process.versions.v8)) setFlagsFromString("--liftoff-only");
}

if (isEntryPoint()) {
  compileWasmOnce();
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
