import { dirname, resolve } from "node:path";
import { ExitCode, VocutError } from "../errors.js";
import { fileSystemOf } from "../ledger/journal.js";
import { Ledger } from "../ledger/ledger.js";
import type { Store, StoreKind } from "../output/store.js";
import { AtomicWriter, TEMP_DIR_NAME } from "../output/write-atomic.js";
import { openJobInput } from "../plan/job-input.js";
import type { JobSpec } from "../plan/job-spec.js";
import { planIntoLedger } from "../plan/plan-job.js";
import { shardEvents, shardLabel } from "../plan/shard.js";
import { createSource } from "../sources/create-source.js";
import { fetchAll } from "./fetch-all.js";
import { openStore } from "./open-store.js";
import type { RunReporter } from "./run-reporter.js";
import { type RunSettings, shareOfRun } from "./run-settings.js";
import { type RunStop, untilStopped } from "./run-stop.js";

/** What `run`, `plan`, `fetch`, `retry` and `obscore` ask of a job. */
export interface JobParams {
  /** Job spec from flags (run/plan), or undefined to take it from the ledger (fetch/retry). */
  readonly spec?: JobSpec;
  readonly ledgerFile: string;
  /** Output folder; for fetch/retry taken from the ledger when absent. */
  readonly outDir?: string;
  /** Plan from the catalog in spec before fetching. */
  readonly plan: boolean;
  /** Fetch after planning (false for `vocut plan`). */
  readonly fetch: boolean;
  readonly strict: boolean;
  /** Put failed tasks back in the queue first (`retry`). */
  readonly requeuePermanent?: boolean;
  /** `--store` of fetch/retry: must be the job's store (run/plan give it in `spec`). */
  readonly store?: StoreKind;
  readonly run: RunSettings;
}

/**
 * Open the ledger (locked), check or store the job, plan the catalog, run the task loop and report to
 * `reporter`; `halt` stops it (signals, --max-duration, the watchdog). Returns the exit code; run-level
 * failures are thrown as VocutError after the ledger is left consistent.
 */
export async function executeJob(p: JobParams, reporter: RunReporter, halt: RunStop): Promise<ExitCode> {
  try {
    return await planAndFetch(p, reporter, halt);
  } catch (err) {
    throw ledgerWriteError(err, resolve(p.ledgerFile));
  }
}

/**
 * SQLite's "disk full" and I/O errors while writing the ledger are run-level failures like a full output
 * disk (exit 5, run again once there is space), not internal errors. Other errors pass through.
 */
function ledgerWriteError(err: unknown, ledgerFile: string): unknown {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (err instanceof VocutError || typeof code !== "string") return err;
  const full = code === "SQLITE_FULL" || code === "ENOSPC" || code === "EDQUOT";
  if (!full && !code.startsWith("SQLITE_IOERR")) return err;
  const hint = full
    ? "the disk is full: free space and run the same command again"
    : "check the disk and run again";
  return new VocutError(
    "LEDGER_WRITE",
    `cannot write the ledger ${ledgerFile} (${code}): ${hint}; the ledger is intact`,
    ExitCode.RetryLater,
    { cause: err },
  );
}

/** Whether `dir` (or its nearest existing parent) is on a local file system; false when unknown. */
function localDisk(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    try {
      return fileSystemOf(d).local;
    } catch {
      if (dirname(d) === d) return false;
    }
  }
}

async function planAndFetch(p: JobParams, reporter: RunReporter, halt: RunStop): Promise<ExitCode> {
  const ledgerFile = resolve(p.ledgerFile);
  let outDir = p.outDir === undefined ? undefined : resolve(p.outDir);
  // Open the catalog before the ledger: an unreadable catalog fails (exit 3) without creating a ledger.
  const catalog = p.plan && p.spec !== undefined ? await openJobInput(p.spec) : undefined;
  let writer: AtomicWriter | undefined;
  let store: Store | undefined;
  const ledger = Ledger.open(ledgerFile, { create: p.spec !== undefined, journal: p.run.ledgerJournal });
  try {
    const spec = p.spec ?? ledger.job<JobSpec>();
    if (spec === undefined) {
      throw new VocutError(
        "LEDGER_EMPTY",
        `ledger ${ledgerFile} has no job: plan one with \`vocut run\``,
        ExitCode.Input,
      );
    }
    if (p.spec !== undefined) ledger.checkJob(p.spec as unknown as Record<string, unknown>);
    const storedOut = ledger.getMeta<string>("out");
    outDir ??= storedOut ?? dirname(ledgerFile);
    if (storedOut === undefined) ledger.setMeta("out", outDir);
    const source = createSource(spec.source);
    // Shards share the output folder but not their temp files: each cleans only its own on start.
    writer = new AtomicWriter(outDir, {
      ...(spec.shard === undefined ? {} : { tempName: `${TEMP_DIR_NAME}-${shardLabel(spec.shard)}` }),
      localDisk: localDisk(outDir),
    });
    writer.prepare();
    store = openStore(ledger, spec, outDir, writer, p.run, reporter, p.store, Date.now);

    const requeued = ledger.requeue({
      running: true,
      failedRetryable: true,
      failedPermanent: p.requeuePermanent === true,
    });
    if (requeued > 0) reporter.info(`requeued ${requeued} unfinished task(s) from an earlier run`);

    if (catalog !== undefined) {
      const t0 = Date.now();
      const all = spec.shard === undefined ? catalog.events : shardEvents(catalog.events, spec.shard);
      const events = untilStopped(all, halt.stop);
      const summary = await planIntoLedger(ledger, source, events, {
        strict: p.strict,
        onSkip: (s) => reporter.skip(s),
      });
      const notes = [...catalog.notes];
      ledger.setMeta("plan", { ...summary, at: Date.now(), ...(notes.length > 0 ? { notes } : {}) });
      for (const n of notes) reporter.error(`warning: ${n}`, { code: "NOTE" });
      reporter.event({ type: "plan", ...summary, ms: Date.now() - t0 });
      reporter.info(
        `planned ${summary.tasks} task(s) for ${summary.targets} target(s) x ${source.bands.length} band(s)` +
          (summary.newTargets < summary.targets
            ? ` (${summary.targets - summary.newTargets} already in the ledger)`
            : "") +
          (summary.skipped > 0 ? `; ${summary.skipped} catalog row(s) skipped` : ""),
      );
    }
    if (halt.stop.aborted) {
      // Planned so far is planned (INSERT OR IGNORE): the same command again plans the rest.
      reporter.error("stopped while planning: run the same command again to finish (exit 5)");
      return ExitCode.RetryLater;
    }
    if (!p.fetch) {
      const c = ledger.counts();
      reporter.info(`ledger ${ledgerFile}: ${c.total} task(s), ${c.byState.pending} pending`);
      return ExitCode.Ok;
    }
    if (spec.shard !== undefined) {
      const run = shareOfRun(p.run, spec.shard);
      reporter.info(
        `shard ${spec.shard.index}/${spec.shard.count}: ${run.ratePerSec.toPrecision(3)} req/s and ${run.concurrency} connection(s) per host (1/${spec.shard.count} of --rate ${p.run.ratePerSec})`,
      );
      return await fetchAll(ledger, spec, source, { store, writer }, outDir, run, reporter, halt);
    }
    return await fetchAll(ledger, spec, source, { store, writer }, outDir, p.run, reporter, halt);
  } catch (err) {
    reporter.stop();
    try {
      ledger.close();
    } catch {
      // A failed last commit (disk full) must not hide the error that stopped the run.
    }
    throw err;
  } finally {
    reporter.stop();
    store?.close();
    writer?.close();
    ledger.close(); // closed already after an error; otherwise a failed last commit is thrown here
  }
}
