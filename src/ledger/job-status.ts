import { resolve } from "node:path";
import { VocutError } from "../errors.js";
import type { LedgerJournalChoice } from "./journal.js";
import { Ledger } from "./ledger.js";
import type { LedgerCounts, TaskFailure } from "./reports.js";
import { type LedgerStatusDoc, readStatusFile, statusFilePath } from "./status-file.js";

/** A job's status, as `vocut status --json` prints it; `J` is the job parameters' type. */
export interface JobStatus<J = unknown> {
  readonly ledger: string;
  readonly job: J | undefined;
  readonly bands: readonly string[];
  readonly total: number;
  readonly byState: Record<string, number>;
  readonly byBand: Record<string, Record<string, number>>;
  readonly lock: { pid: number; host: string; heartbeatAt: string } | null;
  readonly progress: Record<string, unknown> | null;
  readonly etaSeconds: number | null;
  readonly failures: ReadonlyArray<Record<string, unknown>>;
  /** Warnings from planning (a TAP result truncated at MAXREC). */
  readonly notes: readonly string[];
  /** The async TAP job a `vocut obscore --async` run waits for (meta "tapJob"), null when none. */
  readonly asyncQuery: Record<string, unknown> | null;
  /** For a ledger made by `vocut merge`: how many shards went in, of how many, and which are missing. */
  readonly merged: {
    readonly shards: number;
    readonly count: number;
    readonly missing: readonly number[];
  } | null;
  /**
   * Where this report comes from: the ledger, or, while a run holds a `wal-exclusive` ledger (shared
   * file systems), the status file that run rewrites every few seconds.
   */
  readonly from: "ledger" | "status-file";
  /** The status file read (from = "status-file"): its path, when it was written and its age. */
  readonly statusFile: {
    readonly path: string;
    readonly writtenAt: string;
    readonly ageSeconds: number;
  } | null;
  /** The ledger's journal mode and file system (see README "Where the ledger can live"). */
  readonly journal: string;
  readonly fileSystem: string;
}

/** How to read a job's status. */
export interface JobStatusOptions<J> {
  /** Failures to list (default 20). */
  readonly maxFailures?: number;
  /** How to open the ledger (default `auto`, see LedgerOpenOptions). */
  readonly journal?: LedgerJournalChoice;
  /** The band names of a job, by band index (the ledger stores indices only). */
  readonly bandsOf: (job: J) => readonly string[];
}

/** What a report is built from: the ledger itself or the status file a run publishes. */
interface StatusSource<J> {
  readonly job: J | undefined;
  readonly counts: LedgerCounts;
  readonly progress: Record<string, unknown> | null;
  readonly lock: { pid: number; host: string; heartbeatAt: number } | null;
  readonly notes: readonly string[];
  readonly asyncQuery?: Record<string, unknown> | null;
  readonly merged: { count: number; shards: unknown[]; missing: number[] } | undefined;
  readonly failures: TaskFailure[];
  readonly journal: string;
  readonly fileSystem: string;
}

/**
 * Read a ledger without locking it (a running job keeps going) and describe it. Where the run holds the
 * ledger exclusively (`wal-exclusive`, on shared file systems), describe the status file it publishes
 * instead; without one, throw the exit-6 error naming the holder. Other open errors are thrown as they
 * come (exit 3 for a missing or corrupt ledger).
 */
export function readJobStatus<J>(ledgerFile: string, options: JobStatusOptions<J>): JobStatus<J> {
  const maxFailures = options.maxFailures ?? 20;
  const file = resolve(ledgerFile);
  let ledger: Ledger;
  try {
    ledger = Ledger.open(file, { create: false, lock: false, journal: options.journal ?? "auto" });
  } catch (err) {
    if (!(err instanceof VocutError) || err.code !== "LEDGER_LOCKED") throw err;
    const path = statusFilePath(file);
    const doc = readStatusFile<LedgerStatusDoc>(path);
    if (doc?.version !== 1 || doc.counts === undefined) throw err;
    return {
      ...buildStatus(file, options.bandsOf, {
        job: (doc.job ?? undefined) as J | undefined,
        counts: doc.counts,
        progress: doc.progress,
        lock: doc.lock,
        notes: doc.plan?.notes ?? [],
        merged: (doc.merged ?? undefined) as StatusSource<J>["merged"],
        failures: doc.failures.slice(0, maxFailures),
        journal: doc.journal,
        fileSystem: doc.fileSystem,
      }),
      from: "status-file",
      statusFile: {
        path,
        writtenAt: new Date(doc.writtenAt).toISOString(),
        ageSeconds: Math.max(0, (Date.now() - doc.writtenAt) / 1000),
      },
    };
  }
  try {
    return buildStatus(file, options.bandsOf, {
      job: ledger.job<J>(),
      counts: ledger.counts(),
      progress: ledger.getMeta<Record<string, unknown>>("progress") ?? null,
      lock: ledger.lockHolder() ?? null,
      notes: ledger.getMeta<{ notes?: string[] }>("plan")?.notes ?? [],
      asyncQuery: ledger.getMeta<Record<string, unknown>>("tapJob") ?? null,
      merged: ledger.getMeta<{ count: number; shards: unknown[]; missing: number[] }>("merged"),
      failures: ledger.failures(maxFailures),
      journal: ledger.journal,
      fileSystem: ledger.fileSystem.name,
    });
  } finally {
    ledger.close();
  }
}

function buildStatus<J>(
  file: string,
  bandsOf: (job: J) => readonly string[],
  s: StatusSource<J>,
): JobStatus<J> {
  const bands = s.job === undefined ? [] : bandsOf(s.job);
  const c = s.counts;
  const byBand: Record<string, Record<string, number>> = {};
  for (const b of c.byBand) byBand[bands[b.bandIndex] ?? String(b.bandIndex)] = { ...b.byState };
  const rate = typeof s.progress?.ratePerSec === "number" ? s.progress.ratePerSec : 0;
  const left = c.byState.pending + c.byState.running + c.byState.failed_retryable;
  return {
    ledger: file,
    job: s.job,
    bands,
    total: c.total,
    byState: { ...c.byState },
    byBand,
    lock:
      s.lock === null
        ? null
        : { pid: s.lock.pid, host: s.lock.host, heartbeatAt: new Date(s.lock.heartbeatAt).toISOString() },
    progress: s.progress,
    etaSeconds: s.lock !== null && rate > 0 ? left / rate : null,
    notes: s.notes,
    asyncQuery: s.asyncQuery ?? null,
    merged:
      s.merged === undefined
        ? null
        : { shards: s.merged.shards.length, count: s.merged.count, missing: s.merged.missing },
    failures: s.failures.map((f) => ({ ...f, band: bands[f.bandIndex] ?? f.bandIndex })),
    from: "ledger",
    statusFile: null,
    journal: s.journal,
    fileSystem: s.fileSystem,
  };
}
