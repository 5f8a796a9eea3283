import { accessSync, constants, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { ExitCode, VocutError } from "../errors.js";
import {
  chooseJournal,
  type FileSystemKind,
  fileSystemKind,
  type LedgerJournal,
  type LedgerJournalChoice,
  sqliteFileIsWal,
  fileSystemOf as statfsKind,
} from "./journal.js";
import { LEDGER_MIGRATIONS, LEDGER_SCHEMA, LEDGER_SCHEMA_VERSION } from "./schema.js";
import { type LedgerStatusDoc, readStatusFile, statusFilePath } from "./status-file.js";

/** How long a reader waits for a ledger held in exclusive mode before it reports it busy, ms. */
const EXCLUSIVE_READ_TIMEOUT_MS = 1_500;

/** An open ledger file: the connection, in the journal mode chosen for it, with its schema current. */
export interface LedgerFile {
  readonly db: Database.Database;
  /** The journal mode in use (a reader reports the mode it opened the file in). */
  readonly journal: LedgerJournal;
  /** The file system of the ledger's folder. */
  readonly fileSystem: FileSystemKind;
}

/** SQLITE_BUSY and its extended codes: another connection holds the file. */
function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && code.startsWith("SQLITE_BUSY");
}

/** Why `path` cannot be written (EACCES, EROFS, ...), or undefined when it can or does not exist. */
function whyNotWritable(path: string): string | undefined {
  try {
    accessSync(path, constants.W_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === "ENOENT" ? undefined : (code ?? "not writable");
  }
}

/**
 * The error for a ledger that failed to open or migrate for a reason other than a busy lock. A ledger
 * that cannot be written (file modes, another user's job, a read-only mount) is said to be that, not
 * corrupt: moving a good ledger aside would lose the job. SQLite needs to write even to read a WAL
 * ledger (its -shm and -wal, and a migration), so this fails readers and writers alike. SQLite calls it
 * READONLY, or CANTOPEN when it cannot make its journal; the folder's or file's W_OK check tells which.
 */
export function ledgerOpenError(path: string, err: unknown): VocutError {
  if (err instanceof VocutError) return err;
  const code = (err as { code?: unknown } | undefined)?.code;
  if (
    typeof code === "string" &&
    (code.startsWith("SQLITE_READONLY") || code.startsWith("SQLITE_CANTOPEN"))
  ) {
    const file = whyNotWritable(path);
    const folder = whyNotWritable(dirname(path));
    const why =
      file !== undefined
        ? `${file} on the file`
        : folder !== undefined
          ? `${folder} on its folder`
          : undefined;
    if (why !== undefined || code.startsWith("SQLITE_READONLY")) {
      return new VocutError(
        "LEDGER_READONLY",
        `ledger ${path} cannot be written (${why ?? "read-only"}; SQLite: ${code}, ${(err as Error).message}): vocut needs write access to the ledger and its folder even to read it (SQLite's journal); run as its owner, or copy the folder somewhere writable`,
        ExitCode.Input,
        { cause: err },
      );
    }
  }
  return new VocutError(
    "LEDGER_CORRUPT",
    `ledger ${path} is unreadable or corrupt (${(err as Error).message}); move it aside to start over`,
    ExitCode.Input,
    { cause: err },
  );
}

/**
 * Open (or, with `create`, create) a ledger file, set its journal mode and create or migrate its schema.
 * A `writer` sets the file's journal mode; a reader never changes it. Throws VocutError: exit 3 if it is
 * missing, corrupt or not a vocut ledger, exit 6 if another process holds the file (`wal-exclusive`).
 */
export function openLedgerFile(
  path: string,
  options: { readonly create: boolean; readonly writer: boolean; readonly journal?: LedgerJournalChoice },
): LedgerFile {
  const writer = options.writer;
  const choice = options.journal ?? "auto";
  let db: Database.Database;
  let fs: FileSystemKind;
  let journal: LedgerJournal;
  try {
    if (options.create) mkdirSync(dirname(path), { recursive: true });
    fs = folderFileSystem(dirname(path));
    // Decided before the first access: opening a WAL file the ordinary way maps its -shm at once.
    journal = writer ? chooseJournal(fs, choice) : readerJournal(path, fs, choice);
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
    setJournal(db, path, journal, fs, writer || options.create);
    migrate(db, path);
  } catch (err) {
    db.close();
    if (isBusy(err)) throw busyError(path, journal, fs, err);
    throw ledgerOpenError(path, err);
  }
  return { db, journal, fileSystem: fs };
}

/** statfs of the ledger's folder; a folder that cannot be statted counts as an unknown, shared one. */
function folderFileSystem(dir: string): FileSystemKind {
  try {
    return statfsKind(dir);
  } catch {
    return fileSystemKind(0);
  }
}

/**
 * How a reader opens the file without changing its mode: a WAL file in exclusive mode where `-shm`
 * must not be mapped (the file system is not local, or `wal-exclusive` was asked for), otherwise as
 * it is. `wal` asserts that shared memory works there.
 */
function readerJournal(path: string, fs: FileSystemKind, choice: LedgerJournalChoice): LedgerJournal {
  if (!sqliteFileIsWal(path)) return "delete";
  if (choice === "wal") return "wal";
  return choice === "wal-exclusive" || !fs.local ? "wal-exclusive" : "wal";
}

/**
 * Put the connection in `journal` mode before its first access. A writer (or a creator) sets the file's
 * journal mode; a reader only chooses exclusive locking for a WAL file. Leaving `wal-exclusive` for
 * `delete` on a shared file system goes through exclusive mode too, so -shm is never mapped.
 */
function setJournal(
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
function busyError(path: string, journal: LedgerJournal, fs: FileSystemKind, cause: unknown): VocutError {
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

function migrate(db: Database.Database, path: string): void {
  try {
    // The journal mode is set by setJournal, before this first access.
    db.pragma("synchronous = NORMAL");
    // 64 MiB page cache: planning millions of rows is index-bound.
    db.pragma("cache_size = -65536");
    // Checkpoint every 16,384 WAL pages (64 MiB) instead of SQLite's 1,000. Claims in plan order touch
    // rows spread over the whole task table, so a job rewrites each page many times; every checkpoint
    // copies them all back. A 30,000-stamp HiPS job did 71,000 pwrite and 14,000 pread calls on the
    // ledger with 1,000, 59,000 and 2,000 with this; with the ledger on a FUSE mount it ran in 21.8 s
    // instead of 29.4 s (median of 3, interleaved). The WAL is removed when the ledger closes.
    db.pragma("wal_autocheckpoint = 16384");
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
    // Busy is not corruption: openLedgerFile reports who holds the file.
    if (isBusy(err)) throw err;
    throw ledgerOpenError(path, err);
  }
}
