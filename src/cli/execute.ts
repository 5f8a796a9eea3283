import { type ExitCode, usageError } from "../errors.js";
import type { StoreKind } from "../output/store.js";
import { executeJob, type JobParams } from "../run/execute-job.js";
import { RunStop } from "../run/run-stop.js";
import {
  jobLedgerPath,
  jobSpecFrom,
  ledgerPath,
  type RunConfig,
  runConfigFrom,
  storeFrom,
} from "./config.js";
import type { OptionsOf } from "./options.js";
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

/** `fetch` and `retry`: the job comes from the ledger alone; retry also requeues permanent failures. */
export function resumeFromLedger(
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
    ...storeParam(o.store),
  });
}

/** `--store` of fetch/retry as an execute() parameter (absent when not given). */
function storeParam(text: string | undefined): { store?: StoreKind } {
  const store = storeFrom(text);
  return store === undefined ? {} : { store };
}

/** `run` (plan + fetch) and `plan` (plan only; politeness flags take their defaults). */
export function planAndMaybeFetch(
  catalog: string,
  o: OptionsOf<"plan"> | OptionsOf<"run">,
  fetch: boolean,
): Promise<ExitCode> {
  if (o.out === undefined || o.out === "") throw usageError("NO_OUT", "--out DIR is required");
  const spec = jobSpecFrom(catalog, o);
  return execute({
    spec,
    ledgerFile: ledgerPath(o.ledger, o.out, spec.shard),
    outDir: o.out,
    plan: true,
    fetch,
    strict: o.strict === true,
    run: runConfigFrom(o),
  });
}
