import { Command } from "commander";
import { ExitCode } from "../../errors.js";
import { type JobStatus, readJobStatus } from "../../ledger/job-status.js";
import { type LedgerJournalChoice, parseLedgerJournal } from "../../ledger/journal.js";
import { TASK_STATES } from "../../ledger/ledger.js";
import type { JobSpec } from "../../plan/job-spec.js";
import { createSource } from "../../sources/create-source.js";
import { pendingJob } from "../../sources/products/uws.js";
import { jobLedgerPath } from "../config.js";
import { addTableOptions, type OptionsOf } from "../options.js";
import { formatDuration } from "../reporter.js";

/** `vocut status [LEDGER]`: counts, progress and failures of a job; the exit code tells what is left. */
export function statusCommand(setExit: (code: ExitCode) => void): Command {
  const cmd = new Command("status")
    .description(
      "counts by state and band, progress, rate, ETA and failures of a job (exit 0 settled, 4 permanent failures, 5 work left)",
    )
    .argument("[ledger]", "ledger file or output folder (default ./vocut.db)");
  return addTableOptions(cmd, "status").action((arg: string | undefined, o: OptionsOf<"status">) => {
    const journal = parseLedgerJournal(o.ledgerJournal);
    const report = readStatus(jobLedgerPath(arg, o.ledger), Number(o.failures) || 20, journal);
    setExit(printStatus(report, o.json === true));
  });
}

/** The `status` report as printed with --json. */
export type StatusReport = JobStatus<JobSpec>;

/**
 * Read a job's status (src/ledger/job-status.ts), naming its bands after the job's source. Throws the
 * ledger's open errors (exit 3 missing or corrupt, exit 6 held without a status file).
 */
export function readStatus(
  ledgerFile: string,
  maxFailures = 20,
  journal: LedgerJournalChoice = "auto",
): StatusReport {
  return readJobStatus<JobSpec>(ledgerFile, {
    maxFailures,
    journal,
    bandsOf: (job) => createSource(job.source).bands,
  });
}

/** Print a status report for people; returns the exit code a script can branch on. */
export function printStatus(report: StatusReport, json: boolean): ExitCode {
  // An async TAP job not finished yet (vocut obscore --async): its URL without user:password.
  const tapJob = pendingJob(report.asyncQuery);
  const r: StatusReport = { ...report, asyncQuery: tapJob === undefined ? null : { ...tapJob } };
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
    if (tapJob !== undefined) {
      const seen =
        tapJob.phase === undefined
          ? "not polled yet"
          : `${tapJob.phase} when last seen${tapJob.seenAt === undefined ? "" : ` ${new Date(tapJob.seenAt).toISOString()} (${formatDuration(Math.max(0, (Date.now() - tapJob.seenAt) / 1000))} ago)`}`;
      lines.push(
        `async TAP job ${tapJob.url}: ${seen}; its result is not stored yet: the same vocut obscore command goes on with it`,
      );
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
  if (left > 0 || (r.lock !== null && r.total === 0) || tapJob !== undefined) return ExitCode.RetryLater;
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
