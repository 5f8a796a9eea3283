import type { ExitCode } from "../errors.js";
import { executeJob, type JobParams } from "../run/execute-job.js";
import { RunStop } from "../run/run-stop.js";
import type { RunConfig } from "./config.js";
import { Reporter } from "./reporter.js";
import { handleSignals } from "./signal-handlers.js";

/** What `run`, `plan`, `fetch`, `retry` and `obscore` ask of a job, with the reporting flags. */
export interface ExecuteParams extends JobParams {
  readonly run: RunConfig;
}

/**
 * Run a job (executeJob) with the user's reporter (progress, --json, --quiet) and SIGINT/SIGTERM
 * handled from the start (reading the catalog, planning, fetching): every state ends with exit 5 and a
 * consistent ledger. Returns the exit code; run-level failures are thrown as VocutError.
 */
export async function execute(p: ExecuteParams): Promise<ExitCode> {
  const reporter = new Reporter({ quiet: p.run.quiet, json: p.run.json });
  const halt = new RunStop((line) => reporter.error(line));
  const unhandle = handleSignals(halt);
  try {
    return await executeJob(p, reporter, halt);
  } finally {
    unhandle();
    halt.dispose();
  }
}
