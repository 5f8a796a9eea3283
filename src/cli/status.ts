import { resolve } from "node:path";
import { ExitCode, VocutError } from "../errors.js";
import type { LedgerJournalChoice } from "../ledger/journal.js";
import { Ledger, type LedgerCounts, type LedgerStatusDoc, TASK_STATES } from "../ledger/ledger.js";
import { readStatusFile, statusFilePath } from "../ledger/status-file.js";
import type { JobSpec } from "../plan/job-spec.js";
import { createSource } from "../sources/create-source.js";
import { formatDuration } from "./reporter.js";

/** The `status` report as printed with --json. */
export interface StatusReport {
  readonly ledger: string;
  readonly job: JobSpec | undefined;
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

/** What a report is built from: the ledger itself or the status file a run publishes. */
interface StatusSource {
  readonly job: JobSpec | undefined;
  readonly counts: LedgerCounts;
  readonly progress: Record<string, unknown> | null;
  readonly lock: { pid: number; host: string; heartbeatAt: number } | null;
  readonly notes: readonly string[];
  readonly merged: { count: number; shards: unknown[]; missing: number[] } | undefined;
  readonly failures: ReturnType<Ledger["failures"]>;
  readonly journal: string;
  readonly fileSystem: string;
}

/**
 * Read a ledger without locking it (a running job keeps going) and describe it. Where the run holds the
 * ledger exclusively (`wal-exclusive`, on shared file systems), describe the status file it publishes
 * instead; without one, throw the exit-6 error naming the holder.
 */
export function readStatus(
  ledgerFile: string,
  maxFailures = 20,
  journal: LedgerJournalChoice = "auto",
): StatusReport {
  const file = resolve(ledgerFile);
  let ledger: Ledger;
  try {
    ledger = Ledger.open(file, { create: false, lock: false, journal });
  } catch (err) {
    if (!(err instanceof VocutError) || err.code !== "LEDGER_LOCKED") throw err;
    const path = statusFilePath(file);
    const doc = readStatusFile<LedgerStatusDoc>(path);
    if (doc?.version !== 1 || doc.counts === undefined) throw err;
    return {
      ...buildReport(file, {
        job: (doc.job ?? undefined) as JobSpec | undefined,
        counts: doc.counts,
        progress: doc.progress,
        lock: doc.lock,
        notes: doc.plan?.notes ?? [],
        merged: (doc.merged ?? undefined) as StatusSource["merged"],
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
    return buildReport(file, {
      job: ledger.job<JobSpec>(),
      counts: ledger.counts(),
      progress: ledger.getMeta<Record<string, unknown>>("progress") ?? null,
      lock: ledger.lockHolder() ?? null,
      notes: ledger.getMeta<{ notes?: string[] }>("plan")?.notes ?? [],
      merged: ledger.getMeta<{ count: number; shards: unknown[]; missing: number[] }>("merged"),
      failures: ledger.failures(maxFailures),
      journal: ledger.journal,
      fileSystem: ledger.fileSystem.name,
    });
  } finally {
    ledger.close();
  }
}

function buildReport(file: string, s: StatusSource): StatusReport {
  const bands = s.job === undefined ? [] : createSource(s.job.source).bands;
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
    merged: mergedInfo(s.merged),
    failures: s.failures.map((f) => ({ ...f, band: bands[f.bandIndex] ?? f.bandIndex })),
    from: "ledger",
    statusFile: null,
    journal: s.journal,
    fileSystem: s.fileSystem,
  };
}

function mergedInfo(
  m: { count: number; shards: unknown[]; missing: number[] } | undefined,
): StatusReport["merged"] {
  return m === undefined ? null : { shards: m.shards.length, count: m.count, missing: m.missing };
}

/** Print a status report for people; returns the exit code a script can branch on. */
export function printStatus(r: StatusReport, json: boolean): ExitCode {
  if (json) {
    process.stdout.write(`${JSON.stringify(r)}\n`);
  } else {
    const lines: string[] = [
      `ledger ${r.ledger}`,
      `${r.total} task(s) in ${r.bands.length} band(s): ${r.bands.join(", ")}`,
    ];
    if (r.statusFile !== null)
      lines.push(
        `from ${r.statusFile.path}, written ${r.statusFile.writtenAt} (${formatDuration(r.statusFile.ageSeconds)} ago): ` +
          `the run holds the ledger exclusively on this ${r.fileSystem} file system`,
      );
    const shard = r.job?.shard;
    if (shard !== undefined)
      lines.push(`shard ${shard.index}/${shard.count} of the catalog (vocut merge combines the shards)`);
    if (r.merged !== null)
      lines.push(
        `merged from ${r.merged.shards} of ${r.merged.count} shard ledger(s)` +
          (r.merged.missing.length > 0 ? `; missing shard(s) ${r.merged.missing.join(", ")}` : ""),
      );
    // Column width: the longest state name plus two spaces.
    const row = (cells: string[]): string =>
      cells.map((v, i) => (i === 0 ? v.padEnd(8) : v.padStart(18))).join("");
    lines.push(row(["band", ...TASK_STATES]));
    for (const [band, s] of Object.entries(r.byBand))
      lines.push(row([band, ...TASK_STATES.map((k) => String(s[k] ?? 0))]));
    lines.push(row(["all", ...TASK_STATES.map((k) => String(r.byState[k] ?? 0))]));
    if (r.lock !== null) {
      lines.push(`running: pid ${r.lock.pid} on ${r.lock.host}, last heartbeat ${r.lock.heartbeatAt}`);
      if (r.total === 0) lines.push("planning: no task recorded yet");
      const status = r.progress?.status;
      if (typeof status === "string") lines.push(`progress: ${status}`);
      if (r.etaSeconds !== null) lines.push(`ETA ${formatDuration(r.etaSeconds)}`);
    }
    const at = r.progress?.at;
    if (typeof at === "number") {
      const ago = formatDuration(Math.max(0, (Date.now() - at) / 1000));
      const rate =
        typeof r.progress?.ratePerSec === "number" ? `, ${r.progress.ratePerSec.toFixed(2)} tasks/s` : "";
      lines.push(
        r.progress?.finished === true
          ? `last run ended ${new Date(at).toISOString()} (${ago} ago), exit ${String(r.progress.exitCode)}`
          : `last progress ${new Date(at).toISOString()} (${ago} ago)${rate}`,
      );
    }
    const hosts = r.progress?.hosts;
    if (hosts !== undefined && hosts !== null && typeof hosts === "object") {
      for (const [h, st] of Object.entries(hosts as Record<string, Record<string, unknown>>)) {
        lines.push(hostLine(h, st));
      }
    }
    for (const n of r.notes) lines.push(`warning: ${n}`);
    if (r.failures.length > 0) {
      lines.push("failures (first ones):");
      for (const f of r.failures) {
        lines.push(
          `  ${String(f.band)} ${JSON.stringify(f.id)}: ${String(f.state)} after ${String(f.attempts)} attempt(s): ${String(f.code)} ${String(f.message ?? "")}`,
        );
      }
    }
    process.stdout.write(`${lines.join("\n")}\n`);
  }
  const s = r.byState;
  const left = (s.pending ?? 0) + (s.running ?? 0) + (s.failed_retryable ?? 0);
  // A run holding a ledger with no task yet is still planning: work is left, nothing is settled.
  if (left > 0 || (r.lock !== null && r.total === 0)) return ExitCode.RetryLater;
  return (s.failed_permanent ?? 0) > 0 ? ExitCode.PermanentFailures : ExitCode.Ok;
}

/**
 * One host's line: state and why (retry-after, throttled, queueing, breaker), the controller's rate and
 * window, and what it measured (the server's capacity, no-load and current round trip). Fields a
 * ledger written by an older vocut lacks are left out.
 */
function hostLine(h: string, st: Record<string, unknown>): string {
  const num = (k: string): number | undefined => (typeof st[k] === "number" ? (st[k] as number) : undefined);
  const parts = [`host ${h}: ${String(st.state)}${typeof st.reason === "string" ? ` (${st.reason})` : ""}`];
  parts.push(`${Number(st.rate).toFixed(2)} req/s`);
  const window = num("window");
  if (window !== undefined) parts.push(`window ${window}`);
  const capacity = num("capacity");
  if (capacity !== undefined) parts.push(`server takes ~${capacity.toFixed(1)} req/s`);
  const minRtt = num("minRttMs");
  const rtt = num("rttMs");
  if (minRtt !== undefined && rtt !== undefined)
    parts.push(`latency ${rtt.toFixed(0)} ms (no-load ${minRtt.toFixed(0)} ms)`);
  if (st.pausedUntil) parts.push(`paused until ${new Date(Number(st.pausedUntil)).toISOString()}`);
  return parts.join(", ");
}
