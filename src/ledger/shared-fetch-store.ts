import type Database from "better-sqlite3";

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

/** The `shared_fetch` table: resources fetched once per job and their cache files. Statements prepared once. */
export class SharedFetchStore {
  private readonly stmt;

  /** The shared fetches of the open ledger `db`. */
  constructor(db: Database.Database) {
    this.stmt = {
      get: db.prepare<[string], SharedFetch>(
        "SELECT key, url, state, path, bytes, sha256 FROM shared_fetch WHERE key = ?",
      ),
      put: db.prepare<[string, string, string, string | null, number | null, string | null, number]>(
        "INSERT OR REPLACE INTO shared_fetch(key, url, state, path, bytes, sha256, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
      ),
      onDisk: db.prepare<[], { key: string; path: string; bytes: number }>(
        "SELECT key, path, bytes FROM shared_fetch WHERE state = 'done' AND path IS NOT NULL ORDER BY updated_at, rowid",
      ),
      delete: db.prepare<[string]>("DELETE FROM shared_fetch WHERE key = ?"),
    };
  }

  /** A shared fetch (HiPS tile, survey image) recorded by an earlier task or run, if any. */
  get(key: string): SharedFetch | undefined {
    return this.stmt.get.get(key);
  }

  /**
   * Record a shared fetch at once (its own commit): "done" with the cache file, or "missing" (404).
   * Call only after the cache file is durable, like any "done".
   */
  put(f: SharedFetch): void {
    this.stmt.put.run(f.key, f.url, f.state, f.path ?? null, f.bytes ?? null, f.sha256 ?? null, Date.now());
  }

  /** Shared fetches kept on disk, least recently recorded first (for a bounded cache). */
  onDisk(): Array<{ key: string; path: string; bytes: number }> {
    return this.stmt.onDisk.all();
  }

  /** Forget a shared fetch (its cache file was deleted): a later ask fetches it again. */
  delete(key: string): void {
    this.stmt.delete.run(key);
  }
}
