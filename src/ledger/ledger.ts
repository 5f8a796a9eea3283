import { mkdirSync } from "node:fs";
import { hostname } from "node:os";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { ExitCode, usageError, VocutError } from "../errors.js";
import { ImageIndexStore } from "./image-index.js";
import {
  chooseJournal,
  type FileSystemKind,
  fileSystemKind,
  fileSystemOf,
  type LedgerJournal,
  type LedgerJournalChoice,
  readStatusFile,
  sqliteFileIsWal,
  statusFilePath,
  writeStatusFile,
} from "./journal.js";
import { LEDGER_MIGRATIONS, LEDGER_SCHEMA, LEDGER_SCHEMA_VERSION } from "./schema.js";

/** Task states, as stored in the ledger. */
export type TaskState =
  | "pending"
  | "running"
  | "done"
  | "no_coverage"
  | "failed_retryable"
  | "failed_permanent";
export const TASK_STATES: readonly TaskState[] = [
  "pending",
  "running",
  "done",
  "no_coverage",
  "failed_retryable",
  "failed_permanent",
];

/** A task as paged out of the ledger for the fetch pool: everything needed to rebuild its request. */
export interface TaskRow {
  readonly seq: number;
  readonly targetRow: number;
  readonly bandIndex: number;
  readonly id: string;
  readonly safeId: string;
  /** null only for a product without a position. */
  readonly raDeg: number | null;
  readonly decDeg: number | null;
  /** Product jobs: the product URL and declared MIME type; null for cutout jobs. */
  readonly url: string | null;
  readonly format: string | null;
  readonly attempts: number;
  /** 1 when a killed process left this task running (its file may already be on disk), else 0. */
  readonly interrupted: number;
}

/** A target as written at planning time. */
export interface TargetRow {
  readonly row: number;
  readonly id: string;
  readonly safeId: string;
  /** NaN for a product without a position (stored as NULL). */
  readonly raDeg: number;
  readonly decDeg: number;
  /** Product jobs only. */
  readonly url?: string;
  readonly format?: string;
}

/** Result of adding one target: "new", "known" (same row seen on an earlier run) or a conflict. */
export type AddTargetResult = "new" | "known" | "duplicate_id" | "safe_id_collision";

/** The final state of a task with what the ledger keeps about it. */
export type Completion =
  | { readonly kind: "done"; readonly bytes: number; readonly sha256: string; readonly httpStatus?: number }
  | { readonly kind: "no_coverage"; readonly message: string; readonly httpStatus?: number }
  | {
      readonly kind: "failed_retryable" | "failed_permanent";
      readonly code: string;
      readonly message: string;
      readonly httpStatus?: number;
    }
  /** Give the task back (signal, shutdown): it stays pending and keeps its attempt count. */
  | { readonly kind: "requeue" };

/** A resource shared by many tasks (a HiPS tile, a survey image), fetched once per job. */
export interface SharedFetch {
  readonly key: string;
  readonly url: string;
  readonly state: "done" | "missing";
  /** Cache file (absolute) for "done". */
  readonly path?: string | null;
  readonly bytes?: number | null;
  readonly sha256?: string | null;
}

/** Counts by state, overall and per band. */
export interface LedgerCounts {
  readonly total: number;
  readonly byState: Readonly<Record<TaskState, number>>;
  readonly byBand: ReadonlyArray<{
    readonly bandIndex: number;
    readonly byState: Readonly<Record<TaskState, number>>;
  }>;
}

/** Who holds the ledger lock. */
export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  readonly startedAt: number;
  readonly heartbeatAt: number;
}

export interface LedgerOpenOptions {
  /** Create the file if absent (run, plan). `status`/`fetch` open existing ledgers only. */
  readonly create: boolean;
  /** Take the single-writer lock (default true). `status` reads without it. */
  readonly lock?: boolean;
  /** Completions buffered before a commit (default 256). */
  readonly batchSize?: number;
  /** Longest time a completion waits for its commit, in ms (default 500). */
  readonly batchMs?: number;
  /** Called before each batch commit: must make every completed file durable (e.g. fsync directories). */
  readonly beforeCommit?: () => void;
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
  readonly failures: ReturnType<Ledger["failures"]>;
}

/** Failures listed in the status file (`vocut status` lists 20 by default). */
const STATUS_FILE_FAILURES = 20;
/** Progress heartbeats wait this many times the last status snapshot's duration (5% of the run at most). */
const STATUS_COST_FACTOR = 20;
/** A status snapshot faster than this (ms) does not slow the next heartbeat's (small jobs: every 5 s). */
const STATUS_CHEAP_MS = 100;
/** How long a reader waits for a ledger held in exclusive mode before it reports it busy, ms. */
const EXCLUSIVE_READ_TIMEOUT_MS = 1_500;

const HEARTBEAT_MS = 10_000;

function emptyCounts(): Record<TaskState, number> {
  return { pending: 0, running: 0, done: 0, no_coverage: 0, failed_retryable: 0, failed_permanent: 0 };
}

/** SQLITE_BUSY and its extended codes: another connection holds the file. */
function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && code.startsWith("SQLITE_BUSY");
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * One SQLite file per job: job parameters, targets, one row per (target, band) task, shared fetches,
 * a single-writer lock and run heartbeats. Completions are buffered and committed in batches; a task is
 * only ever marked done after `beforeCommit` has made its file durable.
 */
export class Ledger {
  readonly path: string;
  /** The journal mode in use (a reader reports the mode it opened the file in). */
  readonly journal: LedgerJournal;
  /** The file system of the ledger's folder. */
  readonly fileSystem: FileSystemKind;
  private readonly db: Database.Database;
  private readonly pendingCompletions: Array<{ seq: number; c: Completion; at: number }> = [];
  private readonly batchSize: number;
  private readonly batchMs: number;
  private readonly beforeCommit: (() => void) | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  /** A commit that failed in complete() or its timer (disk full): thrown by the next flush() or claim(). */
  private flushError: unknown;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private locked = false;
  /** Progress heartbeats publish the status file no earlier than this (ms since the epoch). */
  private nextPublishAt = 0;
  /** Set while close() publishes the last status file: the lock is released by then. */
  private closing = false;
  private closed = false;
  private readonly stmt;
  private readonly insertTasksStmt = new Map<number, Database.Statement>();
  private imageStore: ImageIndexStore | undefined;

  private constructor(
    path: string,
    db: Database.Database,
    options: LedgerOpenOptions,
    journal: LedgerJournal,
    fileSystem: FileSystemKind,
  ) {
    this.path = path;
    this.db = db;
    this.journal = journal;
    this.fileSystem = fileSystem;
    this.batchSize = options.batchSize ?? 256;
    this.batchMs = options.batchMs ?? 500;
    this.beforeCommit = options.beforeCommit;
    this.stmt = {
      getMeta: db.prepare<[string], { value: string }>("SELECT value FROM meta WHERE key = ?"),
      setMeta: db.prepare<[string, string]>("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)"),
      insertTarget: db.prepare<
        [number, string, string | null, number | null, number | null, string | null, string | null]
      >("INSERT OR IGNORE INTO target(row, id, safe_id, ra, dec, url, format) VALUES (?, ?, ?, ?, ?, ?, ?)"),
      targetById: db.prepare<[string], { row: number }>("SELECT row FROM target WHERE id = ?"),
      targetBySafeId: db.prepare<[string], { row: number; id: string }>(
        "SELECT row, id FROM target WHERE safe_id = ? AND safe_id IS NOT NULL",
      ),
      targetByRow: db.prepare<[number], { id: string }>("SELECT id FROM target WHERE row = ?"),

      claim: db.prepare<[number], TaskRow>(
        `SELECT t.seq AS seq, t.target_row AS targetRow, t.band_index AS bandIndex, g.id AS id, coalesce(g.safe_id, g.id) AS safeId,
                g.ra AS raDeg, g.dec AS decDeg, g.url AS url, g.format AS format, t.attempts AS attempts,
                t.interrupted AS interrupted
           FROM task t JOIN target g ON g.row = t.target_row
          WHERE t.state = 'pending' ORDER BY t.sort_key, t.seq LIMIT ?`,
      ),
      taskBySeq: db.prepare<[number], TaskRow & { state: TaskState }>(
        `SELECT t.seq AS seq, t.target_row AS targetRow, t.band_index AS bandIndex, g.id AS id, coalesce(g.safe_id, g.id) AS safeId,
                g.ra AS raDeg, g.dec AS decDeg, g.url AS url, g.format AS format, t.attempts AS attempts,
                t.interrupted AS interrupted, t.state AS state
           FROM task t JOIN target g ON g.row = t.target_row
          WHERE t.seq = ?`,
      ),
      pendingTried: db.prepare<[], { n: number }>(
        "SELECT count(*) AS n FROM task WHERE state = 'pending' AND attempts > 0",
      ),
      markRunning: db.prepare<[number, number]>(
        "UPDATE task SET state = 'running', updated_at = ? WHERE seq = ?",
      ),
      done: db.prepare<[number | null, number, string, number, number]>(
        `UPDATE task SET state = 'done', attempts = attempts + 1, http_status = ?, bytes = ?, sha256 = ?,
                error_code = NULL, error_message = NULL, updated_at = ? WHERE seq = ?`,
      ),
      noCoverage: db.prepare<[number | null, string, number, number]>(
        `UPDATE task SET state = 'no_coverage', attempts = attempts + 1, http_status = ?, error_code = 'no_coverage',
                error_message = ?, updated_at = ? WHERE seq = ?`,
      ),
      failed: db.prepare<[string, number | null, string, string, number, number]>(
        `UPDATE task SET state = ?, attempts = attempts + 1, http_status = ?, error_code = ?, error_message = ?,
                updated_at = ? WHERE seq = ?`,
      ),
      requeue: db.prepare<[number, number]>(
        "UPDATE task SET state = 'pending', updated_at = ? WHERE seq = ?",
      ),
      countStates: db.prepare<[], { band_index: number; state: TaskState; n: number }>(
        "SELECT band_index, state, count(*) AS n FROM task GROUP BY band_index, state",
      ),
      getLock: db.prepare<[], { pid: number; host: string; started_at: number; heartbeat_at: number }>(
        "SELECT pid, host, started_at, heartbeat_at FROM lock WHERE id = 1",
      ),
      setLock: db.prepare<[number, string, number, number]>(
        "INSERT OR REPLACE INTO lock(id, pid, host, started_at, heartbeat_at) VALUES (1, ?, ?, ?, ?)",
      ),
      heartbeat: db.prepare<[number, number, string]>(
        "UPDATE lock SET heartbeat_at = ? WHERE id = 1 AND pid = ? AND host = ?",
      ),
      getShared: db.prepare<[string], SharedFetch>(
        "SELECT key, url, state, path, bytes, sha256 FROM shared_fetch WHERE key = ?",
      ),
      putShared: db.prepare<[string, string, string, string | null, number | null, string | null, number]>(
        "INSERT OR REPLACE INTO shared_fetch(key, url, state, path, bytes, sha256, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
      ),
      releaseLock: db.prepare<[number, string]>("DELETE FROM lock WHERE id = 1 AND pid = ? AND host = ?"),
    };
  }

  /**
   * Open (or create) a ledger. Throws VocutError: exit 3 if it is missing or not a vocut ledger,
   * exit 6 if another live process holds its lock (or, in `wal-exclusive` mode, the file itself).
   */
  static open(path: string, options: LedgerOpenOptions): Ledger {
    const writer = options.lock !== false;
    const choice = options.journal ?? "auto";
    let db: Database.Database;
    let fs: FileSystemKind;
    let journal: LedgerJournal;
    try {
      if (options.create) mkdirSync(dirname(path), { recursive: true });
      fs = Ledger.fileSystemOf(dirname(path));
      // Decided before the first access: opening a WAL file the ordinary way maps its -shm at once.
      journal = writer ? chooseJournal(fs, choice) : Ledger.readerJournal(path, fs, choice);
      db = new Database(path, {
        fileMustExist: !options.create,
        timeout: !writer && journal === "wal-exclusive" ? EXCLUSIVE_READ_TIMEOUT_MS : 10_000,
      });
    } catch (err) {
      throw new VocutError(
        "LEDGER_OPEN",
        `cannot open ledger ${path}: ${(err as Error).message}`,
        ExitCode.Input,
        { cause: err },
      );
    }
    try {
      Ledger.setJournal(db, path, journal, fs, writer || options.create);
      Ledger.migrate(db, path);
    } catch (err) {
      db.close();
      if (isBusy(err)) throw Ledger.busyError(path, journal, fs, err);
      if (err instanceof VocutError) throw err;
      throw new VocutError(
        "LEDGER_CORRUPT",
        `ledger ${path} is unreadable or corrupt (${(err as Error).message}); move it aside to start over`,
        ExitCode.Input,
        { cause: err },
      );
    }
    const ledger = new Ledger(path, db, options, journal, fs);
    if (writer) {
      try {
        ledger.acquireLock(options.staleLockMs ?? 120_000);
        // At once, so that `status` has something to show while a long plan runs.
        ledger.publishStatus(true);
      } catch (err) {
        db.close();
        throw err;
      }
    }
    return ledger;
  }

  /** statfs of the ledger's folder; a folder that cannot be statted counts as an unknown, shared one. */
  private static fileSystemOf(dir: string): FileSystemKind {
    try {
      return fileSystemOf(dir);
    } catch {
      return fileSystemKind(0);
    }
  }

  /**
   * How a reader opens the file without changing its mode: a WAL file in exclusive mode where `-shm`
   * must not be mapped (the file system is not local, or `wal-exclusive` was asked for), otherwise as
   * it is. `wal` asserts that shared memory works there.
   */
  private static readerJournal(path: string, fs: FileSystemKind, choice: LedgerJournalChoice): LedgerJournal {
    if (!sqliteFileIsWal(path)) return "delete";
    if (choice === "wal") return "wal";
    return choice === "wal-exclusive" || !fs.local ? "wal-exclusive" : "wal";
  }

  /**
   * Put the connection in `journal` mode before its first access. A writer (or a creator) sets the file's
   * journal mode; a reader only chooses exclusive locking for a WAL file. Leaving `wal-exclusive` for
   * `delete` on a shared file system goes through exclusive mode too, so -shm is never mapped.
   */
  private static setJournal(
    db: Database.Database,
    path: string,
    journal: LedgerJournal,
    fs: FileSystemKind,
    setsMode: boolean,
  ): void {
    const exclusiveFirst =
      journal === "wal-exclusive" || (journal === "delete" && !fs.local && sqliteFileIsWal(path));
    if (exclusiveFirst) db.pragma("locking_mode = EXCLUSIVE");
    if (!setsMode) return;
    const wanted = journal === "delete" ? "delete" : "wal";
    const got = db.pragma(`journal_mode = ${wanted.toUpperCase()}`, { simple: true });
    if (got !== wanted) {
      throw new VocutError(
        "LEDGER_JOURNAL",
        `ledger ${path}: SQLite kept journal mode ${String(got)} instead of ${wanted} on this ${fs.name} file system`,
        ExitCode.Input,
      );
    }
    // Back to ordinary locking, released at the next access: readers may then run beside the writer.
    if (journal === "delete" && exclusiveFirst) db.pragma("locking_mode = NORMAL");
  }

  /**
   * Exit 6 for a ledger another process holds, naming the holder from the status file it publishes
   * (the ledger itself cannot be read meanwhile).
   */
  private static busyError(
    path: string,
    journal: LedgerJournal,
    fs: FileSystemKind,
    cause: unknown,
  ): VocutError {
    const statusFile = statusFilePath(path);
    const doc = readStatusFile<Partial<LedgerStatusDoc>>(statusFile);
    const lock = doc?.lock;
    const who =
      lock === undefined || lock === null
        ? "another process"
        : `pid ${lock.pid} on ${lock.host} (since ${new Date(lock.startedAt).toISOString()}, last heartbeat ${new Date(lock.heartbeatAt).toISOString()})`;
    const why =
      journal === "wal-exclusive"
        ? `; on this ${fs.name} file system a run holds the ledger exclusively (no shared memory), so nothing else can read it until the run ends` +
          (doc === undefined ? "" : `; \`vocut status\` reads ${statusFile} meanwhile`)
        : "";
    return new VocutError(
      "LEDGER_LOCKED",
      `ledger ${path} is in use by ${who}${why}; wait for it to finish or stop it`,
      ExitCode.Locked,
      { cause },
    );
  }

  private static migrate(db: Database.Database, path: string): void {
    try {
      // The journal mode is set by setJournal, before this first access.
      db.pragma("synchronous = NORMAL");
      // 64 MiB page cache: planning millions of rows is index-bound.
      db.pragma("cache_size = -65536");
      const version = db.pragma("user_version", { simple: true }) as number;
      if (version === 0) {
        // One transaction: a process killed half-way leaves an empty file, not a half-made schema that
        // every later run would refuse as foreign. IMMEDIATE and re-read: two first runs create it once.
        db.transaction(() => {
          if ((db.pragma("user_version", { simple: true }) as number) !== 0) return;
          const tables = db.prepare("SELECT count(*) AS n FROM sqlite_master").get() as { n: number };
          if (tables.n > 0) {
            throw new VocutError(
              "LEDGER_FOREIGN",
              `${path} is an SQLite file but not a vocut ledger`,
              ExitCode.Input,
            );
          }
          db.exec(LEDGER_SCHEMA);
          db.pragma(`user_version = ${LEDGER_SCHEMA_VERSION}`);
        }).immediate();
      } else if (version < LEDGER_SCHEMA_VERSION) {
        db.transaction(() => {
          // Re-read inside the IMMEDIATE transaction: another process may have migrated meanwhile.
          const now = db.pragma("user_version", { simple: true }) as number;
          for (let v = now; v < LEDGER_SCHEMA_VERSION; v++) {
            const step = LEDGER_MIGRATIONS[v];
            if (step === undefined) throw new Error(`no migration from ledger schema ${v}`);
            db.exec(step);
          }
          db.pragma(`user_version = ${LEDGER_SCHEMA_VERSION}`);
        }).immediate();
      } else if (version > LEDGER_SCHEMA_VERSION) {
        throw new VocutError(
          "LEDGER_NEWER",
          `${path} was written by a newer vocut (schema ${version}, this one knows ${LEDGER_SCHEMA_VERSION})`,
          ExitCode.Input,
        );
      }
      const check = db.pragma("quick_check", { simple: true });
      if (check !== "ok") throw new Error(`integrity check failed: ${String(check)}`);
    } catch (err) {
      // Busy is not corruption: Ledger.open reports who holds the file.
      if (err instanceof VocutError || isBusy(err)) throw err;
      throw new VocutError(
        "LEDGER_CORRUPT",
        `ledger ${path} is unreadable or corrupt (${(err as Error).message}); move it aside to start over`,
        ExitCode.Input,
        { cause: err },
      );
    }
  }

  private acquireLock(staleLockMs: number): void {
    const me = { pid: process.pid, host: hostname() };
    const now = Date.now();
    const take = this.db.transaction(() => {
      const held = this.stmt.getLock.get();
      if (held && !(held.pid === me.pid && held.host === me.host)) {
        const alive = held.host === me.host ? processAlive(held.pid) : now - held.heartbeat_at < staleLockMs;
        if (alive) return held;
      }
      this.stmt.setLock.run(me.pid, me.host, now, now);
      return undefined;
    });
    // IMMEDIATE: two processes starting together serialise here instead of both seeing no lock.
    const held = take.immediate();
    if (held) {
      throw new VocutError(
        "LEDGER_LOCKED",
        `ledger ${this.path} is in use by pid ${held.pid} on ${held.host} (since ${new Date(held.started_at).toISOString()}, ` +
          `last heartbeat ${new Date(held.heartbeat_at).toISOString()}); wait for it to finish or stop it`,
        ExitCode.Locked,
      );
    }
    this.locked = true;
    this.heartbeatTimer = setInterval(() => {
      try {
        if (!this.closed) this.stmt.heartbeat.run(Date.now(), me.pid, me.host);
      } catch {
        // A missed heartbeat (disk full) is harmless: the next commit reports the failure.
      }
    }, HEARTBEAT_MS);
    this.heartbeatTimer.unref();
  }

  /** The lock holder recorded in the ledger, if any (for `status`). */
  lockHolder(): LockHolder | undefined {
    const r = this.stmt.getLock.get();
    return r && { pid: r.pid, host: r.host, startedAt: r.started_at, heartbeatAt: r.heartbeat_at };
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
    const res = this.stmt.insertTarget.run(
      t.row,
      t.id,
      t.safeId === t.id ? null : t.safeId,
      Number.isNaN(t.raDeg) ? null : t.raDeg,
      Number.isNaN(t.decDeg) ? null : t.decDeg,
      t.url ?? null,
      t.format ?? null,
    );
    if (res.changes === 0) {
      const byId = this.stmt.targetById.get(t.id);
      if (byId !== undefined)
        return byId.row === t.row ? this.addTasks(t.row, bandCount, sortKey, "known") : "duplicate_id";
      const bySafe = this.stmt.targetBySafeId.get(t.safeId);
      if (bySafe !== undefined) return "safe_id_collision";
      // The row number is taken by a different id: the catalog changed under the same job.
      const other = this.stmt.targetByRow.get(t.row);
      throw usageError(
        "CATALOG_CHANGED",
        `catalog row ${t.row} is now id ${JSON.stringify(t.id)} but the ledger planned it as ${JSON.stringify(other?.id)}: the catalog changed since this job was planned`,
      );
    }
    return this.addTasks(t.row, bandCount, sortKey, "new");
  }

  private addTasks<R extends AddTargetResult>(row: number, bandCount: number, sortKey: number, result: R): R {
    // One statement per target inserting all its bands: statement overhead dominates planning.
    let stmt = this.insertTasksStmt.get(bandCount);
    if (stmt === undefined) {
      const values = Array.from(
        { length: bandCount },
        (_, b) => `(@row * ${bandCount} + ${b}, @row, ${b}, @sortKey, 'pending', 0, @now)`,
      );
      stmt = this.db.prepare(
        `INSERT OR IGNORE INTO task(seq, target_row, band_index, sort_key, state, attempts, updated_at) VALUES ${values.join(", ")}`,
      );
      this.insertTasksStmt.set(bandCount, stmt);
    }
    stmt.run({ row, sortKey, now: Date.now() });
    return result;
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
    this.db.prepare("ATTACH DATABASE ? AS part").run(otherPath);
    try {
      return this.db.transaction(() => {
        const clash = this.db
          .prepare(
            `SELECT p.row AS row, p.id AS id, m.id AS other FROM part.target p JOIN main.target m
               ON (m.row = p.row AND m.id <> p.id)
               OR (m.safe_id IS NOT NULL AND m.safe_id = p.safe_id AND m.row <> p.row)
              LIMIT 1`,
          )
          .get() as { row: number; id: string; other: string } | undefined;
        if (clash !== undefined) {
          throw new VocutError(
            "MERGE_CONFLICT",
            `${otherPath}: row ${clash.row} (id ${JSON.stringify(clash.id)}) clashes with id ${JSON.stringify(clash.other)} already merged: these ledgers are not shards of one job`,
            ExitCode.Input,
          );
        }
        const targets = this.db
          .prepare(
            `INSERT OR REPLACE INTO main.target(row, id, safe_id, ra, dec, url, format)
             SELECT row, id, safe_id, ra, dec, url, format FROM part.target`,
          )
          .run().changes;
        const tasks = this.db
          .prepare(
            `INSERT OR REPLACE INTO main.task(seq, target_row, band_index, sort_key, state, attempts, interrupted,
                    http_status, error_code, error_message, bytes, sha256, updated_at)
             SELECT seq, target_row, band_index, sort_key, state, attempts, interrupted,
                    http_status, error_code, error_message, bytes, sha256, updated_at FROM part.task`,
          )
          .run().changes;
        this.db
          .prepare(
            `INSERT OR IGNORE INTO main.shared_fetch(key, url, state, path, bytes, sha256, updated_at)
             SELECT key, url, state, path, bytes, sha256, updated_at FROM part.shared_fetch`,
          )
          .run();
        return { targets, tasks };
      })();
    } finally {
      this.db.prepare("DETACH DATABASE part").run();
    }
  }

  /** Put tasks left `running` by a killed process (and, if asked, retryable failures) back to pending. */
  requeue(options: { running?: boolean; failedRetryable?: boolean; failedPermanent?: boolean }): number {
    const states: string[] = [];
    if (options.running) states.push("running");
    if (options.failedRetryable) states.push("failed_retryable");
    if (options.failedPermanent) states.push("failed_permanent");
    if (states.length === 0) return 0;
    const marks = states.map(() => "?").join(", ");
    const res = this.db
      .prepare(
        `UPDATE task SET interrupted = (state = 'running'), state = 'pending', updated_at = ? WHERE state IN (${marks})`,
      )
      .run(Date.now(), ...states);
    return res.changes;
  }

  /** Page out up to `limit` pending tasks in plan order and mark them running (one commit). */
  claim(limit: number): TaskRow[] {
    if (this.flushError !== undefined) throw this.flushError;
    return this.db.transaction(() => {
      const rows = this.stmt.claim.all(limit);
      const now = Date.now();
      for (const r of rows) this.stmt.markRunning.run(now, r.seq);
      return rows;
    })();
  }

  /**
   * Pending tasks that have been tried before (a failure recorded, then put back by a resume or `retry`):
   * work to retry, unlike pending tasks never tried.
   */
  pendingTried(): number {
    return this.stmt.pendingTried.get()?.n ?? 0;
  }

  /** One task with its state, as claim() would page it out; undefined when no task has this seq. */
  task(seq: number): (TaskRow & { readonly state: TaskState }) | undefined {
    return this.stmt.taskBySeq.get(seq);
  }

  /**
   * Buffer a task's final state; committed with the next batch (every `batchSize` completions or
   * `batchMs`). A "done" completion must only be given once the file is renamed into place. Never
   * throws: a failed commit (disk full) is kept and thrown by the next flush() or claim(); its rows stay
   * "running", so the next run requeues them and finds their files, as after a kill.
   */
  complete(seq: number, c: Completion): void {
    this.pendingCompletions.push({ seq, c, at: Date.now() });
    if (this.pendingCompletions.length >= this.batchSize) this.flushKeepingError();
    else if (this.flushTimer === undefined) {
      this.flushTimer = setTimeout(() => this.flushKeepingError(), this.batchMs);
    }
  }

  private flushKeepingError(): void {
    try {
      this.flush();
    } catch (err) {
      this.flushError ??= err;
    }
  }

  /** Commit buffered completions now (after `beforeCommit` has made their files durable). */
  flush(): void {
    if (this.flushError !== undefined) throw this.flushError;
    if (this.flushTimer !== undefined) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    if (this.pendingCompletions.length === 0 || this.closed) return;
    const batch = this.pendingCompletions.splice(0, this.pendingCompletions.length);
    this.beforeCommit?.();
    this.db.transaction(() => {
      for (const { seq, c, at } of batch) {
        switch (c.kind) {
          case "done":
            this.stmt.done.run(c.httpStatus ?? null, c.bytes, c.sha256, at, seq);
            break;
          case "no_coverage":
            this.stmt.noCoverage.run(c.httpStatus ?? null, c.message, at, seq);
            break;
          case "failed_retryable":
          case "failed_permanent":
            this.stmt.failed.run(c.kind, c.httpStatus ?? null, c.code, c.message, at, seq);
            break;
          case "requeue":
            this.stmt.requeue.run(at, seq);
            break;
        }
      }
    })();
  }

  /** A shared fetch (HiPS tile, survey image) recorded by an earlier task or run, if any. */
  getShared(key: string): SharedFetch | undefined {
    return this.stmt.getShared.get(key);
  }

  /**
   * Record a shared fetch at once (its own commit): "done" with the cache file, or "missing" (404).
   * Call only after the cache file is durable, like any "done".
   */
  putShared(f: SharedFetch): void {
    this.stmt.putShared.run(
      f.key,
      f.url,
      f.state,
      f.path ?? null,
      f.bytes ?? null,
      f.sha256 ?? null,
      Date.now(),
    );
  }

  /** Shared fetches kept on disk, least recently recorded first (for a bounded cache). */
  sharedOnDisk(): Array<{ key: string; path: string; bytes: number }> {
    return this.db
      .prepare(
        "SELECT key, path, bytes FROM shared_fetch WHERE state = 'done' AND path IS NOT NULL ORDER BY updated_at, rowid",
      )
      .all() as Array<{ key: string; path: string; bytes: number }>;
  }

  /** Forget a shared fetch (its cache file was deleted): a later ask fetches it again. */
  deleteShared(key: string): void {
    this.db.prepare("DELETE FROM shared_fetch WHERE key = ?").run(key);
  }

  /** The local image index of `--images` jobs: the only part of the ledger a producing source may use. */
  imageIndex(): ImageIndexStore {
    this.imageStore ??= new ImageIndexStore(this.db);
    return this.imageStore;
  }

  /** Task counts by state, overall and per band index. */
  counts(): LedgerCounts {
    const byState = emptyCounts();
    const bands = new Map<number, Record<TaskState, number>>();
    let total = 0;
    for (const r of this.stmt.countStates.all()) {
      byState[r.state] += r.n;
      total += r.n;
      let b = bands.get(r.band_index);
      if (b === undefined) {
        b = emptyCounts();
        bands.set(r.band_index, b);
      }
      b[r.state] += r.n;
    }
    const byBand = [...bands.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([bandIndex, s]) => ({ bandIndex, byState: s }));
    return { total, byState, byBand };
  }

  /** Failed tasks with their last error, for `status` and `retry` reports (at most `limit`). */
  failures(limit: number): Array<{
    seq: number;
    id: string;
    bandIndex: number;
    state: TaskState;
    httpStatus: number | null;
    code: string | null;
    message: string | null;
    attempts: number;
  }> {
    return this.db
      .prepare(
        `SELECT t.seq AS seq, g.id AS id, t.band_index AS bandIndex, t.state AS state, t.http_status AS httpStatus,
                t.error_code AS code, t.error_message AS message, t.attempts AS attempts
           FROM task t JOIN target g ON g.row = t.target_row
          WHERE t.state IN ('failed_retryable', 'failed_permanent') ORDER BY t.seq LIMIT ?`,
      )
      .all(limit) as ReturnType<Ledger["failures"]>;
  }

  /** Iterate every task with its target in plan order (export, reports). Streams from SQLite. */
  *iterateTasks(): IterableIterator<{
    seq: number;
    targetRow: number;
    bandIndex: number;
    id: string;
    safeId: string;
    raDeg: number;
    decDeg: number;
    state: TaskState;
    bytes: number | null;
    sha256: string | null;
  }> {
    yield* this.db
      .prepare(
        `SELECT t.seq AS seq, t.target_row AS targetRow, t.band_index AS bandIndex, g.id AS id, coalesce(g.safe_id, g.id) AS safeId,
                g.ra AS raDeg, g.dec AS decDeg, t.state AS state, t.bytes AS bytes, t.sha256 AS sha256
           FROM task t JOIN target g ON g.row = t.target_row ORDER BY t.seq`,
      )
      .iterate() as IterableIterator<never>;
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

  /**
   * Write the status file (wal-exclusive writers only). The snapshot counts every task, on the run's
   * only thread (about 1 s for a million tasks here): after a snapshot slower than STATUS_CHEAP_MS,
   * progress heartbeats (`force` false) are skipped until STATUS_COST_FACTOR times its duration has
   * passed, so publishing never takes more than ~5% of the run; `status` shows the file's age. A failure (disk full) is not fatal: the
   * next ledger commit reports a full disk.
   */
  private publishStatus(force: boolean): void {
    if (this.journal !== "wal-exclusive" || !this.locked) return;
    const t0 = Date.now();
    if (!force && t0 < this.nextPublishAt) return;
    try {
      writeStatusFile(statusFilePath(this.path), this.statusSnapshot());
    } catch {
      // See above.
    }
    const took = Date.now() - t0;
    this.nextPublishAt = took < STATUS_CHEAP_MS ? 0 : Date.now() + STATUS_COST_FACTOR * took;
  }

  /** Flush, release the lock and close. Safe to call twice. Throws a failed last commit after closing. */
  close(): void {
    if (this.closed) return;
    try {
      this.flush();
    } finally {
      // Closed even when the last commit fails (disk full), which is then thrown.
      if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
      if (this.flushTimer !== undefined) clearTimeout(this.flushTimer);
      try {
        if (this.locked) this.stmt.releaseLock.run(process.pid, hostname());
      } catch {
        // Left behind, the lock names a dead process: the next run on this host takes it over.
      }
      // The last status file says the run is over (no holder), with the final counts.
      this.closing = true;
      this.publishStatus(true);
      this.closed = true;
      this.db.close();
    }
  }
}
