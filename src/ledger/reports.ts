import type Database from "better-sqlite3";
import type { TaskState } from "./task-queue.js";

/** Counts by state, overall and per band. */
export interface LedgerCounts {
  readonly total: number;
  readonly byState: Readonly<Record<TaskState, number>>;
  readonly byBand: ReadonlyArray<{
    readonly bandIndex: number;
    readonly byState: Readonly<Record<TaskState, number>>;
  }>;
}

/** A failed task with its last error, as `status` and `retry` list it. */
export interface TaskFailure {
  seq: number;
  id: string;
  bandIndex: number;
  state: TaskState;
  httpStatus: number | null;
  code: string | null;
  message: string | null;
  attempts: number;
}

/** A task with its target and outcome, in plan order, as export and preview read it. */
export interface TaskReportRow {
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
  /** Tar store: the tar file in OUT/tar and the offset of the product's data; null for files. */
  tarShard: string | null;
  tarOffset: number | null;
}

function emptyCounts(): Record<TaskState, number> {
  return { pending: 0, running: 0, done: 0, no_coverage: 0, failed_retryable: 0, failed_permanent: 0 };
}

/** Read-only summaries of a ledger's tasks: counts, failures, every task. Statements prepared once. */
export class LedgerReports {
  private readonly stmt;

  /** Reports over the open ledger `db`. */
  constructor(db: Database.Database) {
    this.stmt = {
      countStates: db.prepare<[], { band_index: number; state: TaskState; n: number }>(
        "SELECT band_index, state, count(*) AS n FROM task GROUP BY band_index, state",
      ),
      failures: db.prepare<[number], TaskFailure>(
        `SELECT t.seq AS seq, g.id AS id, t.band_index AS bandIndex, t.state AS state, t.http_status AS httpStatus,
                t.error_code AS code, t.error_message AS message, t.attempts AS attempts
           FROM task t JOIN target g ON g.row = t.target_row
          WHERE t.state IN ('failed_retryable', 'failed_permanent') ORDER BY t.seq LIMIT ?`,
      ),
      tasks: db.prepare<[], TaskReportRow>(
        `SELECT t.seq AS seq, t.target_row AS targetRow, t.band_index AS bandIndex, g.id AS id, coalesce(g.safe_id, g.id) AS safeId,
                g.ra AS raDeg, g.dec AS decDeg, t.state AS state, t.bytes AS bytes, t.sha256 AS sha256,
                t.tar_shard AS tarShard, t.tar_offset AS tarOffset
           FROM task t JOIN target g ON g.row = t.target_row ORDER BY t.seq`,
      ),
    };
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

  /** Failed tasks with their last error, in plan order (at most `limit`). */
  failures(limit: number): TaskFailure[] {
    return this.stmt.failures.all(limit);
  }

  /**
   * Every task with its target in plan order, streamed from SQLite. One iteration at a time: the
   * statement is shared, so a second iteration must not start before the first ends (or is broken off).
   */
  *iterateTasks(): IterableIterator<TaskReportRow> {
    // A generator, so that the query starts at the first step, not at the call.
    yield* this.stmt.tasks.iterate();
  }
}
