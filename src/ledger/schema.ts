/** Current ledger schema version (PRAGMA user_version). Bump with a migration when the schema changes. */
export const LEDGER_SCHEMA_VERSION = 2;

/**
 * Migrations from each older version to the next, run in order inside one transaction. v1 -> v2: product
 * URL and format per target (ObsCore product jobs); ADD COLUMN does not rewrite the table.
 */
export const LEDGER_MIGRATIONS: Readonly<Record<number, string>> = {
  1: "ALTER TABLE target ADD COLUMN url TEXT; ALTER TABLE target ADD COLUMN format TEXT;",
};

/**
 * Schema v2. Tasks do not store URLs or paths: both are rebuilt purely from the job parameters and the
 * target, which keeps a 5-million-task ledger small. `task.seq = target_row * band_count + band_index`
 * gives catalog order and a stable key.
 */
export const LEDGER_SCHEMA = `
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE lock (
  id           INTEGER PRIMARY KEY CHECK (id = 1),
  pid          INTEGER NOT NULL,
  host         TEXT NOT NULL,
  started_at   INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL
);
CREATE TABLE target (
  row     INTEGER PRIMARY KEY,
  id      TEXT NOT NULL UNIQUE,
  -- NULL when the id is already a safe file name (the common case): saves an index entry per target.
  safe_id TEXT,
  -- NULL only for archive products without a position (ObsCore rows with empty s_ra/s_dec).
  ra      REAL,
  dec     REAL,
  -- Product jobs (vocut obscore): the product's URL and declared MIME type; NULL for cutout jobs.
  url     TEXT,
  format  TEXT
);
-- Changed ids carry a "~hash" suffix that clean ids cannot contain, so only changed ids can collide.
CREATE UNIQUE INDEX target_safe_id ON target(safe_id) WHERE safe_id IS NOT NULL;
CREATE TABLE task (
  seq           INTEGER PRIMARY KEY,
  target_row    INTEGER NOT NULL REFERENCES target(row),
  band_index    INTEGER NOT NULL,
  -- Processing order: the catalog row for most sources; a HEALPix index for client-side HiPS
  -- cutouts, so that neighbouring targets share tiles while they are in memory.
  sort_key      INTEGER NOT NULL,
  state         TEXT NOT NULL CHECK (state IN ('pending','running','done','no_coverage','failed_retryable','failed_permanent')),
  attempts      INTEGER NOT NULL DEFAULT 0,
  -- 1 when a killed process left the task running: its file may already be in place.
  interrupted   INTEGER NOT NULL DEFAULT 0,
  http_status   INTEGER,
  error_code    TEXT,
  error_message TEXT,
  bytes         INTEGER,
  sha256        TEXT,
  updated_at    INTEGER NOT NULL
);
-- Only unfinished tasks are indexed: the claim query walks this in plan order, and finished tasks
-- cost nothing to keep.
CREATE INDEX task_pending ON task(sort_key, seq) WHERE state = 'pending';
CREATE TABLE shared_fetch (
  key        TEXT PRIMARY KEY,
  url        TEXT NOT NULL,
  state      TEXT NOT NULL,
  path       TEXT,
  bytes      INTEGER,
  sha256     TEXT,
  updated_at INTEGER NOT NULL
);
`;
