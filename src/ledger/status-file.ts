import { readFileSync, renameSync, writeFileSync } from "node:fs";
import type { LedgerJournal } from "./journal.js";
import type { LockHolder } from "./ledger-lock.js";
import type { LedgerCounts, TaskFailure } from "./reports.js";

/**
 * What a run on a `wal-exclusive` ledger publishes in `<ledger>.status.json` (every progress heartbeat
 * and at the end), since no other process can open the ledger meanwhile: everything `vocut status` shows.
 */
export interface LedgerStatusDoc {
  readonly version: 1;
  readonly ledger: string;
  /** When this document was written (ms since the epoch). */
  readonly writtenAt: number;
  readonly journal: LedgerJournal;
  readonly fileSystem: string;
  /** null once the run has closed the ledger. */
  readonly lock: LockHolder | null;
  readonly progress: Record<string, unknown> | null;
  readonly counts: LedgerCounts;
  readonly job: unknown;
  readonly plan: { notes?: string[] } | null;
  readonly merged: unknown;
  readonly failures: TaskFailure[];
}

/** Failures listed in the status file (`vocut status` lists 20 by default). */
export const STATUS_FILE_FAILURES = 20;
/** Progress heartbeats wait this many times the last status snapshot's duration (5% of the run at most). */
const STATUS_COST_FACTOR = 20;
/** A status snapshot faster than this (ms) does not slow the next heartbeat's (small jobs: every 5 s). */
const STATUS_CHEAP_MS = 100;

/** Where a run on a `wal-exclusive` ledger publishes its progress for `vocut status`. */
export function statusFilePath(ledgerPath: string): string {
  return `${ledgerPath}.status.json`;
}

/**
 * Replace the status file atomically (temp file + rename), so a reader on any host sees the old or the
 * new document, never half of one. Not fsynced: it is rewritten every few seconds and a crash that loses
 * the last one loses nothing the ledger does not keep (and an fsync on a slow shared disk would cost
 * the run far more than the note is worth).
 */
export function writeStatusFile(path: string, doc: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(doc)}\n`);
  renameSync(tmp, path);
}

/** Read a status file; undefined when it is missing or not a JSON object. */
export function readStatusFile<T extends object>(path: string): T | undefined {
  try {
    const v = JSON.parse(readFileSync(path, "utf8")) as unknown;
    return typeof v === "object" && v !== null ? (v as T) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Writes a ledger's status file at a bounded cost. The snapshot counts every task, on the run's only
 * thread (about 1 s for a million tasks here): after a snapshot slower than STATUS_CHEAP_MS, progress
 * heartbeats (`force` false) are skipped until STATUS_COST_FACTOR times its duration has passed, so
 * publishing never takes more than ~5% of the run; `status` shows the file's age.
 */
export class StatusPublisher {
  private readonly path: string;
  /** Progress heartbeats publish the status file no earlier than this (ms since the epoch). */
  private nextPublishAt = 0;

  /** Publishes the status file of the ledger at `ledgerPath`. */
  constructor(ledgerPath: string) {
    this.path = statusFilePath(ledgerPath);
  }

  /**
   * Write `snapshot()` unless a heartbeat (`force` false) comes too soon after a costly one. A failure
   * (disk full) is not fatal: the next ledger commit reports a full disk.
   */
  publish(force: boolean, snapshot: () => LedgerStatusDoc): void {
    const t0 = Date.now();
    if (!force && t0 < this.nextPublishAt) return;
    try {
      writeStatusFile(this.path, snapshot());
    } catch {
      // See above.
    }
    const took = Date.now() - t0;
    this.nextPublishAt = took < STATUS_CHEAP_MS ? 0 : Date.now() + STATUS_COST_FACTOR * took;
  }
}
