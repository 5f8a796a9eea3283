/** Current ledger schema version (PRAGMA user_version). Bump with a migration when the schema changes. */
export const LEDGER_SCHEMA_VERSION = 5;

/**
 * The local image index of `--images DIR` jobs (schema v3): every FITS file seen under DIR with its size and
 * mtime (an unchanged file is never read again), every image HDU with its header (the WCS is parsed from it
 * without opening the file), and an R*Tree of sky boxes (RA/Dec degrees; two boxes for a footprint across
 * RA = 0, RA 0..360 for one around a pole). `reads` counts how often a file's headers were read.
 */
export const IMAGE_INDEX_SCHEMA = `
CREATE TABLE IF NOT EXISTS image_file (
  path       TEXT PRIMARY KEY,
  size       INTEGER NOT NULL,
  mtime_ms   REAL NOT NULL,
  reads      INTEGER NOT NULL DEFAULT 0,
  -- Why the file holds no indexed image (not FITS, no celestial WCS), NULL when it was indexed.
  problem    TEXT,
  indexed_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS image (
  id      INTEGER PRIMARY KEY,
  path    TEXT NOT NULL REFERENCES image_file(path),
  hdu     INTEGER NOT NULL,
  -- The band keyword's value, trimmed and lower-cased (NULL when absent), for case-insensitive matching.
  band    TEXT,
  width   INTEGER NOT NULL,
  height  INTEGER NOT NULL,
  -- The HDU's header as 80-character cards without END: enough to rebuild its WCS.
  header  TEXT NOT NULL,
  -- Byte offset and length of the data in the file: a stamp reads only this HDU.
  data_offset INTEGER NOT NULL,
  data_bytes  INTEGER NOT NULL,
  UNIQUE (path, hdu)
);
CREATE VIRTUAL TABLE IF NOT EXISTS image_box USING rtree(id, min_ra, max_ra, min_dec, max_dec, +image_id INTEGER);
`;

/**
 * The task table (schema v5), stored in plan order: rows are kept by (sort_key, seq), the order claims
 * page them out, and `seq` has its own unique index for lookups. Claims and completions then touch a few
 * neighbouring pages per batch. With rows kept by seq (v4), a job whose plan order is not catalog order
 * (client-side HiPS: sorted by HEALPix cell) dirtied pages all over the table at every commit: 91 WAL
 * pages per commit of 256 tasks, every page of a 30,000-stamp job written about 24 times (28,500 WAL
 * frames; 4,000 with this layout).
 */
function taskTable(name: string): string {
  return `CREATE TABLE ${name} (
  seq           INTEGER NOT NULL UNIQUE,
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
  updated_at    INTEGER NOT NULL,
  -- Tar store (--store tar): the tar file in OUT/tar holding the product and the offset of its data
  -- (its length is bytes); NULL for the files store.
  tar_shard     TEXT,
  tar_offset    INTEGER,
  PRIMARY KEY (sort_key, seq)
) WITHOUT ROWID;`;
}

/** The columns of the task table, in order (a v4 -> v5 rebuild copies them by name). */
const TASK_COLUMNS = [
  "seq",
  "target_row",
  "band_index",
  "sort_key",
  "state",
  "attempts",
  "interrupted",
  "http_status",
  "error_code",
  "error_message",
  "bytes",
  "sha256",
  "updated_at",
  "tar_shard",
  "tar_offset",
].join(", ");

/** The claim query's index: only unfinished tasks are in it, so finished tasks cost nothing to keep. */
const TASK_PENDING_INDEX = "CREATE INDEX task_pending ON task(sort_key, seq) WHERE state = 'pending';";

/**
 * Migrations from each older version to the next, run in order inside one transaction. v1 -> v2: product
 * URL and format per target (ObsCore product jobs); ADD COLUMN does not rewrite the table. v2 -> v3: the
 * local image index (IMAGE_INDEX_SCHEMA). v3 -> v4: where a tar store put each product (issue 12). v4 -> v5: the task table rebuilt in plan
 * order (taskTable); every row and column is copied.
 */
export const LEDGER_MIGRATIONS: Readonly<Record<number, string>> = {
  1: "ALTER TABLE target ADD COLUMN url TEXT; ALTER TABLE target ADD COLUMN format TEXT;",
  2: IMAGE_INDEX_SCHEMA,
  3: "ALTER TABLE task ADD COLUMN tar_shard TEXT; ALTER TABLE task ADD COLUMN tar_offset INTEGER;",
  4: `${taskTable("task_v5")}
INSERT INTO task_v5 (${TASK_COLUMNS}) SELECT ${TASK_COLUMNS} FROM task;
DROP TABLE task;
ALTER TABLE task_v5 RENAME TO task;
${TASK_PENDING_INDEX}`,
};

/**
 * Schema v5. Tasks do not store URLs or paths: both are rebuilt purely from the job parameters and the
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
${taskTable("task")}
${TASK_PENDING_INDEX}
CREATE TABLE shared_fetch (
  key        TEXT PRIMARY KEY,
  url        TEXT NOT NULL,
  state      TEXT NOT NULL,
  path       TEXT,
  bytes      INTEGER,
  sha256     TEXT,
  updated_at INTEGER NOT NULL
);
${IMAGE_INDEX_SCHEMA}`;
