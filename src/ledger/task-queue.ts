import type Database from "better-sqlite3";
import { usageError } from "../errors.js";

/** Task states, as stored in the ledger. */
export type TaskState =
  | "pending"
  | "running"
  | "done"
  | "no_coverage"
  | "failed_retryable"
  | "failed_permanent";
/** Every task state, in the order reports list them. */
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
  | {
      readonly kind: "done";
      readonly bytes: number;
      readonly sha256: string;
      readonly httpStatus?: number;
      /** Tar store: the tar file and the offset of the product's data in it. */
      readonly tar?: { readonly shard: string; readonly offset: number };
    }
  | { readonly kind: "no_coverage"; readonly message: string; readonly httpStatus?: number }
  | {
      readonly kind: "failed_retryable" | "failed_permanent";
      readonly code: string;
      readonly message: string;
      readonly httpStatus?: number;
    }
  /** Give the task back (signal, shutdown): it stays pending and keeps its attempt count. */
  | { readonly kind: "requeue" };

/** How completions are batched (see LedgerOpenOptions). */
export interface TaskQueueOptions {
  readonly batchSize?: number;
  readonly batchMs?: number;
}

/** A tar file as the ledger knows it: the end of its last committed member and its member count. */
export interface TarFileRow {
  readonly shard: string;
  readonly end: number;
  readonly members: number;
}

const TASK_COLUMNS = `t.seq AS seq, t.target_row AS targetRow, t.band_index AS bandIndex, g.id AS id, coalesce(g.safe_id, g.id) AS safeId,
                g.ra AS raDeg, g.dec AS decDeg, g.url AS url, g.format AS format, t.attempts AS attempts,
                t.interrupted AS interrupted`;

/**
 * The targets and tasks of a ledger as a work queue: planning adds them, the fetch pool claims pending
 * tasks in plan order and completes them. Completions are buffered and committed in batches; the caller
 * completes a task "done" only once its store said the product is durable. Every statement is prepared once (the multi-band insert
 * once per band count).
 */
export class TaskQueue {
  private readonly db: Database.Database;
  private readonly pendingCompletions: Array<{ seq: number; c: Completion; at: number }> = [];
  private readonly batchSize: number;
  private readonly batchMs: number;
  private flushTimer: NodeJS.Timeout | undefined;
  /** A commit that failed in complete() or its timer (disk full): thrown by the next flush() or claim(). */
  private flushError: unknown;
  private closed = false;
  private readonly stmt;
  private readonly insertTasksStmt = new Map<number, Database.Statement>();
  private readonly claimTx: (limit: number) => TaskRow[];
  private readonly commitTx: (batch: ReadonlyArray<{ seq: number; c: Completion; at: number }>) => void;

  /** The queue of the open ledger `db`. */
  constructor(db: Database.Database, options: TaskQueueOptions) {
    this.db = db;
    this.batchSize = options.batchSize ?? 256;
    this.batchMs = options.batchMs ?? 500;
    this.stmt = {
      insertTarget: db.prepare<
        [number, string, string | null, number | null, number | null, string | null, string | null]
      >("INSERT OR IGNORE INTO target(row, id, safe_id, ra, dec, url, format) VALUES (?, ?, ?, ?, ?, ?, ?)"),
      targetById: db.prepare<[string], { row: number }>("SELECT row FROM target WHERE id = ?"),
      targetBySafeId: db.prepare<[string], { row: number; id: string }>(
        "SELECT row, id FROM target WHERE safe_id = ? AND safe_id IS NOT NULL",
      ),
      targetByRow: db.prepare<[number], { id: string }>("SELECT id FROM target WHERE row = ?"),
      // The file name of a target is coalesce(safe_id, id): both indexes answer this.
      targetByName: db.prepare<[string, string], { row: number; id: string }>(
        "SELECT row, id FROM target WHERE safe_id = ? UNION ALL SELECT row, id FROM target WHERE safe_id IS NULL AND id = ?",
      ),
      claim: db.prepare<[number], TaskRow>(
        `SELECT ${TASK_COLUMNS}
           FROM task t JOIN target g ON g.row = t.target_row
          WHERE t.state = 'pending' ORDER BY t.sort_key, t.seq LIMIT ?`,
      ),
      taskBySeq: db.prepare<[number], TaskRow & { state: TaskState }>(
        `SELECT ${TASK_COLUMNS}, t.state AS state
           FROM task t JOIN target g ON g.row = t.target_row
          WHERE t.seq = ?`,
      ),
      pendingTried: db.prepare<[], { n: number }>(
        "SELECT count(*) AS n FROM task WHERE state = 'pending' AND attempts > 0",
      ),
      markRunning: db.prepare<[number, number]>(
        "UPDATE task SET state = 'running', updated_at = ? WHERE seq = ?",
      ),
      done: db.prepare<[number | null, number, string, string | null, number | null, number, number]>(
        `UPDATE task SET state = 'done', attempts = attempts + 1, http_status = ?, bytes = ?, sha256 = ?,
                tar_shard = ?, tar_offset = ?, error_code = NULL, error_message = NULL, updated_at = ? WHERE seq = ?`,
      ),
      tarFiles: db.prepare<[], TarFileRow>(
        `SELECT tar_shard AS shard, max(tar_offset + ((bytes + 511) / 512) * 512) AS end, count(*) AS members
           FROM task WHERE tar_shard IS NOT NULL GROUP BY tar_shard`,
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
      // One statement for every choice of states: each flag (0 or 1) switches one state on.
      requeueStates: db.prepare<[number, number, number, number]>(
        `UPDATE task SET interrupted = (state = 'running'), state = 'pending', updated_at = ?
          WHERE (state = 'running' AND ?) OR (state = 'failed_retryable' AND ?) OR (state = 'failed_permanent' AND ?)`,
      ),
    };
    this.claimTx = db.transaction((limit: number) => {
      const rows = this.stmt.claim.all(limit);
      const now = Date.now();
      for (const r of rows) this.stmt.markRunning.run(now, r.seq);
      return rows;
    });
    this.commitTx = db.transaction((batch: ReadonlyArray<{ seq: number; c: Completion; at: number }>) => {
      for (const { seq, c, at } of batch) {
        switch (c.kind) {
          case "done":
            this.stmt.done.run(
              c.httpStatus ?? null,
              c.bytes,
              c.sha256,
              c.tar?.shard ?? null,
              c.tar?.offset ?? null,
              at,
              seq,
            );
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
    });
  }

  /**
   * Record a target and its tasks (one per band) with INSERT OR IGNORE. Re-planning the same row is a
   * no-op ("known"); an id already used by another row is "duplicate_id"; a different id mapping to the
   * same safe file name is "safe_id_collision". Throws a usage error when the row holds another id.
   */
  addTarget(t: TargetRow, bandCount: number, sortKey: number): AddTargetResult {
    if (t.url !== undefined) {
      // Products are named without the "~hash" that keeps changed cutout ids apart (issue 13), so a
      // name may equal another target's id-as-name: checked here, where cutout planning need not pay.
      const other = this.stmt.targetByName.all(t.safeId, t.safeId).find((o) => o.row !== t.row);
      if (other !== undefined) {
        if (other.id === t.id) return "duplicate_id";
        const mine = this.stmt.targetById.get(t.id);
        if (mine === undefined || mine.row !== t.row) return "safe_id_collision";
      }
    }
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

  /** Put tasks left `running` by a killed process (and, if asked, failed ones) back to pending. */
  requeue(options: { running?: boolean; failedRetryable?: boolean; failedPermanent?: boolean }): number {
    const flag = (on: boolean | undefined): number => (on ? 1 : 0);
    if (!options.running && !options.failedRetryable && !options.failedPermanent) return 0;
    return this.stmt.requeueStates.run(
      Date.now(),
      flag(options.running),
      flag(options.failedRetryable),
      flag(options.failedPermanent),
    ).changes;
  }

  /** Page out up to `limit` pending tasks in plan order and mark them running (one commit). */
  claim(limit: number): TaskRow[] {
    if (this.flushError !== undefined) throw this.flushError;
    return this.claimTx(limit);
  }

  /** Pending tasks that have been tried before (a failure recorded, then put back): work to retry. */
  pendingTried(): number {
    return this.stmt.pendingTried.get()?.n ?? 0;
  }

  /** One task with its state, as claim() would page it out; undefined when no task has this seq. */
  task(seq: number): (TaskRow & { readonly state: TaskState }) | undefined {
    return this.stmt.taskBySeq.get(seq);
  }

  /**
   * Buffer a task's final state; committed with the next batch (every `batchSize` completions or
   * `batchMs`). Never throws: a failed commit is kept and thrown by the next flush() or claim().
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

  /** Every tar file holding a committed product (tar store), with where its last member ends. */
  tarFiles(): TarFileRow[] {
    return this.stmt.tarFiles.all();
  }

  /** Commit buffered completions now. */
  flush(): void {
    if (this.flushError !== undefined) throw this.flushError;
    if (this.flushTimer !== undefined) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    if (this.pendingCompletions.length === 0 || this.closed) return;
    const batch = this.pendingCompletions.splice(0, this.pendingCompletions.length);
    this.commitTx(batch);
  }

  /** Stop the batch timer; later flushes commit nothing (the connection is about to close). */
  stop(): void {
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer);
    this.closed = true;
  }
}
