import type Database from "better-sqlite3";
import { ExitCode, VocutError } from "../errors.js";

/**
 * Copies the rows of another ledger of the same job (a shard) into an open ledger, through an attached
 * database `part`. The statements that read `part` can only be prepared while it is attached: they are
 * prepared at the first copy and kept (SQLite re-prepares them itself when `part` is attached again).
 */
export class ShardCopy {
  private readonly db: Database.Database;
  private readonly attach: Database.Statement<[string]>;
  private readonly detach: Database.Statement<[]>;
  private stmt: ReturnType<ShardCopy["prepare"]> | undefined;
  private copyTx: ((otherPath: string) => { targets: number; tasks: number }) | undefined;

  /** Copies into the open ledger `db`. */
  constructor(db: Database.Database) {
    this.db = db;
    this.attach = db.prepare<[string]>("ATTACH DATABASE ? AS part");
    this.detach = db.prepare<[]>("DETACH DATABASE part");
  }

  private prepare() {
    const db = this.db;
    return {
      clash: db.prepare<[], { row: number; id: string; other: string }>(
        `SELECT p.row AS row, p.id AS id, m.id AS other FROM part.target p JOIN main.target m
           ON (m.row = p.row AND m.id <> p.id)
           OR (m.safe_id IS NOT NULL AND m.safe_id = p.safe_id AND m.row <> p.row)
          LIMIT 1`,
      ),
      targets: db.prepare<[]>(
        `INSERT OR REPLACE INTO main.target(row, id, safe_id, ra, dec, url, format)
         SELECT row, id, safe_id, ra, dec, url, format FROM part.target`,
      ),
      tasks: db.prepare<[]>(
        `INSERT OR REPLACE INTO main.task(seq, target_row, band_index, sort_key, state, attempts, interrupted,
                http_status, error_code, error_message, bytes, sha256, updated_at, tar_shard, tar_offset)
         SELECT seq, target_row, band_index, sort_key, state, attempts, interrupted,
                http_status, error_code, error_message, bytes, sha256, updated_at, tar_shard, tar_offset FROM part.task`,
      ),
      shared: db.prepare<[]>(
        `INSERT OR IGNORE INTO main.shared_fetch(key, url, state, path, bytes, sha256, updated_at)
         SELECT key, url, state, path, bytes, sha256, updated_at FROM part.shared_fetch`,
      ),
    };
  }

  /**
   * Copy every target, task and shared fetch of the ledger at `otherPath`, in one transaction; its rows
   * replace earlier copies of the same rows. Throws VocutError MERGE_CONFLICT (exit 3), changing nothing,
   * when a row or file name is taken by another id. Returns the number of targets and tasks copied.
   */
  from(otherPath: string): { targets: number; tasks: number } {
    this.attach.run(otherPath);
    try {
      this.stmt ??= this.prepare();
      const stmt = this.stmt;
      this.copyTx ??= this.db.transaction((path: string) => {
        const clash = stmt.clash.get();
        if (clash !== undefined) {
          throw new VocutError(
            "MERGE_CONFLICT",
            `${path}: row ${clash.row} (id ${JSON.stringify(clash.id)}) clashes with id ${JSON.stringify(clash.other)} already merged: these ledgers are not shards of one job`,
            ExitCode.Input,
          );
        }
        const targets = stmt.targets.run().changes;
        const tasks = stmt.tasks.run().changes;
        stmt.shared.run();
        return { targets, tasks };
      });
      return this.copyTx(otherPath);
    } finally {
      this.detach.run();
    }
  }
}
