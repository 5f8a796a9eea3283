import { closeSync, existsSync, openSync, readSync, statfsSync } from "node:fs";
import { usageError } from "../errors.js";

/**
 * How the ledger's SQLite file journals and locks:
 * - `wal`: WAL with its wal-index in a memory-mapped `-shm` file (fast commits, readers run beside the
 *   writer). Needs shared memory that works between the processes using the file: a local disk.
 * - `wal-exclusive`: WAL with `locking_mode=EXCLUSIVE`, so SQLite keeps the wal-index in heap memory and
 *   never maps `-shm`. The writer holds the file for its whole run; nobody else can read it meanwhile,
 *   so the run also writes `<ledger>.status.json` for `vocut status`.
 * - `delete`: the rollback journal (`-journal`), plain reads and writes and POSIX locks; readers run
 *   beside the writer, each commit costs two or three fsyncs.
 */
export type LedgerJournal = "wal" | "wal-exclusive" | "delete";
/** A journal, or `auto`: chosen from the file system the ledger is on (`chooseJournal`). */
export type LedgerJournalChoice = LedgerJournal | "auto";

export const LEDGER_JOURNALS: readonly LedgerJournalChoice[] = ["auto", "wal", "wal-exclusive", "delete"];

/** A file system as statfs(2) names it: its f_type magic, a name, and whether it is local to this host. */
export interface FileSystemKind {
  readonly type: number;
  readonly name: string;
  /** Memory-mapping `-shm` is safe (one kernel sees every process using the file). */
  readonly local: boolean;
}

/**
 * statfs f_type magic numbers (linux/magic.h and the file systems' own sources). Local ones keep WAL;
 * everything else, listed or not, gets `wal-exclusive`: an unknown type may be a network file system,
 * and a wrong guess there is a crash (SIGBUS) or a corrupt ledger, while a wrong guess the other way
 * only means `status` reads a file instead of the ledger.
 */
const FILE_SYSTEMS: ReadonlyArray<readonly [number, string, boolean]> = [
  [0xef53, "ext2/3/4", true],
  [0x58465342, "xfs", true],
  [0x9123683e, "btrfs", true],
  [0x01021994, "tmpfs", true],
  [0x794c7630, "overlay", true],
  [0x2fc12fc1, "zfs", true],
  [0xf2f52010, "f2fs", true],
  [0xca451a4e, "bcachefs", true],
  [0x52654973, "reiserfs", true],
  [0x3153464a, "jfs", true],
  [0x858458f6, "ramfs", true],
  [0x4d44, "vfat", true],
  [0x2011bab0, "exfat", true],
  [0x6969, "nfs", false],
  [0x65735546, "fuse", false],
  [0x0bd00bd0, "lustre", false],
  [0x47504653, "gpfs", false],
  [0xff534d42, "cifs", false],
  [0xfe534d42, "smb2", false],
  [0x517b, "smb", false],
  [0x00c36400, "ceph", false],
  [0x19830326, "beegfs", false],
  [0x01021997, "9p", false],
  [0x5346414f, "afs", false],
  [0x6b414653, "afs", false],
  [0xa501fcf5, "vxfs", false],
  [0xaad7aaea, "panfs", false],
  [0x20030528, "orangefs", false],
];

/** Name a statfs f_type; unknown types are not local. */
export function fileSystemKind(type: number): FileSystemKind {
  const hit = FILE_SYSTEMS.find(([t]) => t === type);
  return hit === undefined
    ? { type, name: `unknown (0x${type.toString(16)})`, local: false }
    : { type, name: hit[1], local: hit[2] };
}

/** The file system holding `dir` (a folder that exists). Throws the statfs error. */
export function fileSystemOf(dir: string): FileSystemKind {
  return fileSystemKind(statfsSync(dir).type);
}

/**
 * The journal for a ledger on `fs`: the choice when it is not `auto`; else `wal` on a local file system
 * and `wal-exclusive` on any other (NFS, Lustre, GPFS, FUSE, SMB, Ceph, BeeGFS, 9P, unknown). Pure.
 */
export function chooseJournal(fs: FileSystemKind, choice: LedgerJournalChoice = "auto"): LedgerJournal {
  if (choice !== "auto") return choice;
  return fs.local ? "wal" : "wal-exclusive";
}

/** Parse `--ledger-journal` / VOCUT_LEDGER_JOURNAL. Throws a usage error (exit 2) naming the choices. */
export function parseLedgerJournal(text: string | undefined): LedgerJournalChoice {
  if (text === undefined || text === "") return "auto";
  const v = text.trim().toLowerCase();
  if ((LEDGER_JOURNALS as readonly string[]).includes(v)) return v as LedgerJournalChoice;
  throw usageError("BAD_OPTION", `--ledger-journal ${JSON.stringify(text)}: ${LEDGER_JOURNALS.join(", ")}`);
}

/**
 * Whether an SQLite file is in WAL mode: a reader must know before its first access, because opening a
 * WAL file the ordinary way maps `-shm`. True when its header says so (bytes 18 and 19, the read and
 * write format versions, are 2) or when a `-wal` file sits beside it: a new WAL writer's first commits,
 * the header change included, live in `-wal` until a checkpoint, and SQLite opens such a file as WAL.
 */
export function sqliteFileIsWal(path: string): boolean {
  if (existsSync(`${path}-wal`)) return true;
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return false;
  }
  try {
    const head = Buffer.alloc(20);
    const n = readSync(fd, head, 0, 20, 0);
    return n === 20 && head.toString("latin1", 0, 15) === "SQLite format 3" && head[18] === 2;
  } finally {
    closeSync(fd);
  }
}
