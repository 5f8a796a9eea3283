import type Database from "better-sqlite3";
import { usageError } from "../errors.js";
import { ImageIndexStore } from "./image-index.js";
import type { FileSystemKind, LedgerJournal, LedgerJournalChoice } from "./journal.js";
import { type LedgerFile, openLedgerFile } from "./ledger-file.js";
import { LedgerLock, type LockHolder } from "./ledger-lock.js";
import { type LedgerCounts, LedgerReports, type TaskFailure, type TaskReportRow } from "./reports.js";
import { ShardCopy } from "./shard-copy.js";
import { type SharedFetch, SharedFetchStore } from "./shared-fetch-store.js";
import { type LedgerStatusDoc, STATUS_FILE_FAILURES, StatusPublisher } from "./status-file.js";
import {
  type AddTargetResult,
  type Completion,
  type TarFileRow,
  type TargetRow,
  TaskQueue,
  type TaskRow,
  type TaskState,
} from "./task-queue.js";

/** The parts' types, re-exported: callers import the ledger's vocabulary from this one file. */
export type { LockHolder } from "./ledger-lock.js";
export type { LedgerCounts, TaskFailure, TaskReportRow } from "./reports.js";
export type { SharedFetch } from "./shared-fetch-store.js";
export type { LedgerStatusDoc } from "./status-file.js";
export type { AddTargetResult, Completion, TarFileRow, TargetRow, TaskRow, TaskState } from "./task-queue.js";
/** Every task state, in the order reports list them (task-queue.ts). */
export { TASK_STATES } from "./task-queue.js";

/** How a ledger is opened. */
export interface LedgerOpenOptions {
  /** Create the file if absent (run, plan). `status`/`fetch` open existing ledgers only. */
  readonly create: boolean;
  /** Take the single-writer lock (default true). `status` reads without it. */
  readonly lock?: boolean;
  /** Completions buffered before a commit (default 256). */
  readonly batchSize?: number;
  /** Longest time a completion waits for its commit, in ms (default 500). */
  readonly batchMs?: number;
  /** A lock held on another host counts as stale when its heartbeat is older than this (default 120000 ms). */
  readonly staleLockMs?: number;
  /**
   * Journal and locking mode (default `auto`: from the file system of the ledger's folder, see
   * src/ledger/journal.ts). A reader (`lock: false`) never changes the file's mode: it only opens a WAL
   * file in exclusive mode, without `-shm`, where the writer would.
   */
  readonly journal?: LedgerJournalChoice;
}

/**
 * One SQLite file per job: job parameters, targets, one row per (target, band) task, shared fetches,
 * a single-writer lock and run heartbeats. Completions are buffered and committed in batches; a task is
 * completed done only after its store made the product durable (output/store.ts). A facade over the parts, one
 * file each: the file (ledger-file.ts), the lock, the task queue, the shared-fetch store, the reports,
 * the status file and the shard copy.
 */
export class Ledger {
  readonly path: string;
  /** The journal mode in use (a reader reports the mode it opened the file in). */
  readonly journal: LedgerJournal;
  /** The file system of the ledger's folder. */
  readonly fileSystem: FileSystemKind;
  private readonly db: Database.Database;
  private readonly lock: LedgerLock;
  private readonly queue: TaskQueue;
  private readonly shared: SharedFetchStore;
  private readonly reports: LedgerReports;
  private readonly publisher: StatusPublisher;
  private readonly shardCopy: ShardCopy;
  /** Set while close() publishes the last status file: the lock is released by then. */
  private closing = false;
  private closed = false;
  private readonly stmt;
  private imageStore: ImageIndexStore | undefined;

  private constructor(path: string, options: LedgerOpenOptions, file: LedgerFile) {
    this.path = path;
    this.db = file.db;
    this.journal = file.journal;
    this.fileSystem = file.fileSystem;
    this.lock = new LedgerLock(file.db, path);
    this.queue = new TaskQueue(file.db, options);
    this.shared = new SharedFetchStore(file.db);
    this.reports = new LedgerReports(file.db);
    this.publisher = new StatusPublisher(path);
    this.shardCopy = new ShardCopy(file.db);
    this.stmt = {
      getMeta: file.db.prepare<[string], { value: string }>("SELECT value FROM meta WHERE key = ?"),
      setMeta: file.db.prepare<[string, string]>("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)"),
    };
  }

  /**
   * Open (or create) a ledger. Throws VocutError: exit 3 if it is missing or not a vocut ledger,
   * exit 6 if another live process holds its lock (or, in `wal-exclusive` mode, the file itself).
   */
  static open(path: string, options: LedgerOpenOptions): Ledger {
    const writer = options.lock !== false;
    const file = openLedgerFile(path, {
      create: options.create,
      writer,
      ...(options.journal === undefined ? {} : { journal: options.journal }),
    });
    let ledger: Ledger | undefined;
    try {
      ledger = new Ledger(path, options, file);
      if (writer) {
        ledger.lock.acquire(options.staleLockMs ?? 120_000);
        // At once, so that `status` has something to show while a long plan runs.
        ledger.publishStatus(true);
      }
    } catch (err) {
      ledger?.lock.release();
      file.db.close();
      throw err;
    }
    return ledger;
  }

  /** The lock holder recorded in the ledger, if any (for `status`). */
  lockHolder(): LockHolder | undefined {
    return this.lock.holder();
  }

  /** Read a JSON value from the meta table. */
  getMeta<T>(key: string): T | undefined {
    const r = this.stmt.getMeta.get(key);
    return r === undefined ? undefined : (JSON.parse(r.value) as T);
  }

  /**
   * Write a JSON value into the meta table (committed at once). Job, plan summary and progress are all
   * meta: each is published in the status file too (`wal-exclusive` writers).
   */
  setMeta(key: string, value: unknown): void {
    this.stmt.setMeta.run(key, JSON.stringify(value));
    this.publishStatus(true);
  }

  /**
   * Store the job parameters on first use; on resume compare them and refuse (exit 2) any difference,
   * naming each differing key, so two jobs are never silently mixed in one ledger.
   */
  checkJob(job: Readonly<Record<string, unknown>>): void {
    const stored = this.getMeta<Record<string, unknown>>("job");
    if (stored === undefined) {
      this.setMeta("job", job);
      return;
    }
    const keys = new Set([...Object.keys(stored), ...Object.keys(job)]);
    const diffs: string[] = [];
    for (const k of [...keys].sort()) {
      const a = JSON.stringify(stored[k]);
      const b = JSON.stringify(job[k]);
      if (a !== b) diffs.push(`  ${k}: ledger has ${a ?? "(unset)"}, this command gives ${b ?? "(unset)"}`);
    }
    if (diffs.length > 0) {
      throw usageError(
        "JOB_MISMATCH",
        `ledger ${this.path} was planned with different parameters:\n${diffs.join("\n")}\n` +
          "Use the original options (or `vocut fetch` to resume from the ledger alone), or a new --out/--ledger for a new job.",
      );
    }
  }

  /** The stored job parameters, or undefined for a fresh ledger. */
  job<T = Record<string, unknown>>(): T | undefined {
    return this.getMeta<T>("job");
  }

  /**
   * Record a target and its tasks (one per band) with INSERT OR IGNORE. Re-planning the same row is a
   * no-op ("known"); an id already used by another row is "duplicate_id"; a different id mapping to the
   * same safe file name is "safe_id_collision". Call inside `transaction()` for speed.
   */
  addTarget(t: TargetRow, bandCount: number, sortKey: number = t.row): AddTargetResult {
    return this.queue.addTarget(t, bandCount, sortKey);
  }

  /** Run fn in one transaction (planning inserts, bulk updates). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /**
   * Copy every target, task and shared fetch of another ledger of the same job (a shard) into this one, in
   * one transaction; the other ledger's rows replace earlier copies of the same rows (merging again after
   * the shards made progress). Refuses, changing nothing, when a row or file name is taken by another id.
   * Returns the number of targets and tasks copied.
   */
  mergeFrom(otherPath: string): { targets: number; tasks: number } {
    this.flush();
    return this.shardCopy.from(otherPath);
  }

  /** Put tasks left `running` by a killed process (and, if asked, retryable failures) back to pending. */
  requeue(options: { running?: boolean; failedRetryable?: boolean; failedPermanent?: boolean }): number {
    return this.queue.requeue(options);
  }

  /** Page out up to `limit` pending tasks in plan order and mark them running (one commit). */
  claim(limit: number): TaskRow[] {
    return this.queue.claim(limit);
  }

  /**
   * Pending tasks that have been tried before (a failure recorded, then put back by a resume or `retry`):
   * work to retry, unlike pending tasks never tried.
   */
  pendingTried(): number {
    return this.queue.pendingTried();
  }

  /** One task with its state, as claim() would page it out; undefined when no task has this seq. */
  task(seq: number): (TaskRow & { readonly state: TaskState }) | undefined {
    return this.queue.task(seq);
  }

  /**
   * Buffer a task's final state; committed with the next batch (every `batchSize` completions or
   * `batchMs`). A "done" completion must only be given once its store said the product is durable. Never
   * throws: a failed commit (disk full) is kept and thrown by the next flush() or claim(); its rows stay
   * "running", so the next run requeues them and finds their files, as after a kill.
   */
  complete(seq: number, c: Completion): void {
    this.queue.complete(seq, c);
  }

  /** Commit buffered completions now. */
  flush(): void {
    this.queue.flush();
  }

  /** Every tar file holding a committed product (tar store), with where its last member ends. */
  tarFiles(): TarFileRow[] {
    return this.queue.tarFiles();
  }

  /** A shared fetch (HiPS tile, survey image) recorded by an earlier task or run, if any. */
  getShared(key: string): SharedFetch | undefined {
    return this.shared.get(key);
  }

  /**
   * Record a shared fetch at once (its own commit): "done" with the cache file, or "missing" (404).
   * Call only after the cache file is durable, like any "done".
   */
  putShared(f: SharedFetch): void {
    this.shared.put(f);
  }

  /** Shared fetches kept on disk, least recently recorded first (for a bounded cache). */
  sharedOnDisk(): Array<{ key: string; path: string; bytes: number }> {
    return this.shared.onDisk();
  }

  /** Forget a shared fetch (its cache file was deleted): a later ask fetches it again. */
  deleteShared(key: string): void {
    this.shared.delete(key);
  }

  /** The local image index of `--images` jobs: the only part of the ledger a producing source may use. */
  imageIndex(): ImageIndexStore {
    this.imageStore ??= new ImageIndexStore(this.db);
    return this.imageStore;
  }

  /** Task counts by state, overall and per band index. */
  counts(): LedgerCounts {
    return this.reports.counts();
  }

  /** Failed tasks with their last error, for `status` and `retry` reports (at most `limit`). */
  failures(limit: number): TaskFailure[] {
    return this.reports.failures(limit);
  }

  /** Iterate every task with its target in plan order (export, reports). Streams from SQLite. */
  iterateTasks(): IterableIterator<TaskReportRow> {
    return this.reports.iterateTasks();
  }

  /**
   * Record a run's progress snapshot (heartbeat for `status`: rate, ETA, per-host state); in
   * `wal-exclusive` mode also publish it in the status file, which is all other processes can read.
   */
  recordProgress(progress: unknown): void {
    this.stmt.setMeta.run("progress", JSON.stringify({ at: Date.now(), ...(progress as object) }));
    this.publishStatus(false);
  }

  /** Everything `vocut status` shows, as one document (what the status file holds). */
  statusSnapshot(maxFailures: number = STATUS_FILE_FAILURES): LedgerStatusDoc {
    const counts = this.counts();
    const failed = counts.byState.failed_permanent + counts.byState.failed_retryable;
    return {
      version: 1,
      ledger: this.path,
      writtenAt: Date.now(),
      journal: this.journal,
      fileSystem: this.fileSystem.name,
      lock: this.closing ? null : (this.lockHolder() ?? null),
      progress: this.getMeta<Record<string, unknown>>("progress") ?? null,
      counts,
      job: this.job() ?? null,
      plan: this.getMeta<{ notes?: string[] }>("plan") ?? null,
      merged: this.getMeta<unknown>("merged") ?? null,
      // The failures query scans every task: only when there are some.
      failures: failed > 0 ? this.failures(maxFailures) : [],
    };
  }

  /** Write the status file: `wal-exclusive` writers only, at a bounded cost (StatusPublisher). */
  private publishStatus(force: boolean): void {
    if (this.journal !== "wal-exclusive" || !this.lock.held) return;
    this.publisher.publish(force, () => this.statusSnapshot());
  }

  /** Flush, release the lock and close. Safe to call twice. Throws a failed last commit after closing. */
  close(): void {
    if (this.closed) return;
    try {
      this.flush();
    } finally {
      // Closed even when the last commit fails (disk full), which is then thrown.
      this.queue.stop();
      this.lock.release();
      // The last status file says the run is over (no holder), with the final counts.
      this.closing = true;
      this.publishStatus(true);
      this.closed = true;
      this.db.close();
    }
  }
}
