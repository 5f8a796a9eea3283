import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readStatus } from "../../src/cli/commands/status.js";
import { ExitCode, VocutError } from "../../src/errors.js";
import {
  chooseJournal,
  fileSystemKind,
  fileSystemOf,
  parseLedgerJournal,
  sqliteFileIsWal,
} from "../../src/ledger/journal.js";
import { Ledger, type LedgerStatusDoc } from "../../src/ledger/ledger.js";
import { readStatusFile, statusFilePath } from "../../src/ledger/status-file.js";
import { tempDir } from "../helpers/cli.js";

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir("vocut-journal-");
});
afterEach(() => tmp.cleanup());

function thrown(fn: () => unknown): VocutError {
  try {
    fn();
  } catch (err) {
    if (err instanceof VocutError) return err;
    throw err;
  }
  throw new Error("expected a VocutError");
}

/** A ledger with `n` targets of one band, planned and closed, for readers to open. */
function plannedLedger(file: string, journal: "wal" | "wal-exclusive" | "delete", n = 5): Ledger {
  const l = Ledger.open(file, { create: true, journal });
  l.checkJob({ source: { kind: "template", template: "http://x/{id}", bands: ["g"] } });
  l.transaction(() => {
    for (let i = 0; i < n; i++) l.addTarget({ row: i, id: `t${i}`, safeId: `t${i}`, raDeg: i, decDeg: 0 }, 1);
  });
  return l;
}

describe("journal decision table (statfs f_type -> journal)", () => {
  const cases: ReadonlyArray<readonly [number, string, "wal" | "wal-exclusive"]> = [
    [0xef53, "ext2/3/4", "wal"],
    [0x58465342, "xfs", "wal"],
    [0x9123683e, "btrfs", "wal"],
    [0x01021994, "tmpfs", "wal"],
    [0x794c7630, "overlay", "wal"],
    [0x2fc12fc1, "zfs", "wal"],
    [0x6969, "nfs", "wal-exclusive"],
    [0x65735546, "fuse", "wal-exclusive"],
    [0x0bd00bd0, "lustre", "wal-exclusive"],
    [0x47504653, "gpfs", "wal-exclusive"],
    [0xff534d42, "cifs", "wal-exclusive"],
    [0xfe534d42, "smb2", "wal-exclusive"],
    [0x00c36400, "ceph", "wal-exclusive"],
    [0x19830326, "beegfs", "wal-exclusive"],
    [0x01021997, "9p", "wal-exclusive"],
  ];
  it.each(cases)("f_type 0x%s is %s -> %s", (type, name, journal) => {
    const fs = fileSystemKind(type);
    expect(fs.name).toBe(name);
    expect(chooseJournal(fs)).toBe(journal);
    expect(chooseJournal(fs, "auto")).toBe(journal);
  });

  it("an unknown file system is treated as shared (no -shm); an explicit choice always wins", () => {
    const unknown = fileSystemKind(0x12345678);
    expect(unknown).toMatchObject({ local: false, name: "unknown (0x12345678)" });
    expect(chooseJournal(unknown)).toBe("wal-exclusive");
    for (const type of [0xef53, 0x6969, 0x65735546, 0x12345678]) {
      for (const j of ["wal", "wal-exclusive", "delete"] as const)
        expect(chooseJournal(fileSystemKind(type), j)).toBe(j);
    }
  });

  it("reads this machine's temp folder with statfs", () => {
    const fs = fileSystemOf(tmp.dir);
    expect(fs.type).toBeGreaterThan(0);
    expect(fileSystemKind(fs.type)).toEqual(fs);
  });

  it("parses --ledger-journal; a bad value is a usage error naming the choices", () => {
    expect(parseLedgerJournal(undefined)).toBe("auto");
    expect(parseLedgerJournal("")).toBe("auto");
    expect(parseLedgerJournal("WAL-Exclusive")).toBe("wal-exclusive");
    expect(parseLedgerJournal(" delete ")).toBe("delete");
    for (const bad of ["rollback", "truncate", "wal exclusive", "memory"]) {
      const err = thrown(() => parseLedgerJournal(bad));
      expect(err.exitCode).toBe(ExitCode.Usage);
      expect(err.message).toContain("auto, wal, wal-exclusive, delete");
    }
  });
});

describe("sqliteFileIsWal (decided before the first access)", () => {
  it("reads the header and the -wal file beside it", () => {
    expect(sqliteFileIsWal(join(tmp.dir, "missing.db"))).toBe(false);
    const text = join(tmp.dir, "text.db");
    writeFileSync(text, "not a database at all, longer than twenty bytes");
    expect(sqliteFileIsWal(text)).toBe(false);
    writeFileSync(join(tmp.dir, "short.db"), "SQLite");
    expect(sqliteFileIsWal(join(tmp.dir, "short.db"))).toBe(false);

    const rollback = join(tmp.dir, "rollback.db");
    const d1 = new Database(rollback);
    d1.exec("CREATE TABLE t(x)");
    d1.close();
    expect(sqliteFileIsWal(rollback)).toBe(false);

    const wal = join(tmp.dir, "wal.db");
    const d2 = new Database(wal);
    d2.pragma("journal_mode = WAL");
    d2.exec("CREATE TABLE t(x)");
    // Open: the header change is still in -wal; the -wal file says so.
    expect(sqliteFileIsWal(wal)).toBe(true);
    d2.close();
    expect(existsSync(`${wal}-wal`)).toBe(false);
    expect(sqliteFileIsWal(wal)).toBe(true);
  });
});

describe("Ledger journal modes (forced on a local disk; test/ledger/fuse.test.ts runs them on FUSE)", () => {
  it("wal-exclusive: no -shm; others get exit 6 naming the holder; status reads the status file", () => {
    const file = join(tmp.dir, "vocut.db");
    const l = plannedLedger(file, "wal-exclusive");
    expect(l.journal).toBe("wal-exclusive");
    const [a, b] = l.claim(2);
    l.complete(a?.seq ?? -1, { kind: "done", bytes: 10, sha256: "x" });
    l.complete(b?.seq ?? -1, {
      kind: "failed_permanent",
      code: "HTTP_404",
      message: "gone",
      httpStatus: 404,
    });
    l.flush();
    l.recordProgress({
      pid: process.pid,
      ratePerSec: 2.5,
      status: "2/5 settled",
      hosts: { "h:1": { state: "ok", rate: 5, extra: 7 } },
    });
    expect(existsSync(`${file}-shm`)).toBe(false);
    expect(existsSync(`${file}-wal`)).toBe(true);

    const doc = readStatusFile<LedgerStatusDoc>(statusFilePath(file));
    expect(doc).toMatchObject({ version: 1, journal: "wal-exclusive", lock: { pid: process.pid } });
    expect(doc?.counts.byState).toMatchObject({ pending: 3, done: 1, failed_permanent: 1 });

    // Another connection cannot read the file: a clear exit 6 naming the holder, not a hang or exit 3.
    const err = thrown(() => Ledger.open(file, { create: false, lock: false, journal: "wal-exclusive" }));
    expect(err.code).toBe("LEDGER_LOCKED");
    expect(err.exitCode).toBe(ExitCode.Locked);
    expect(err.message).toContain(`pid ${process.pid}`);
    expect(err.message).toContain(statusFilePath(file));

    // `vocut status` falls back to the status file, with the same fields as from the ledger.
    const r = readStatus(file, 20, "wal-exclusive");
    expect(r.from).toBe("status-file");
    expect(r.statusFile?.path).toBe(statusFilePath(file));
    expect(r.statusFile?.ageSeconds).toBeGreaterThanOrEqual(0);
    expect(r).toMatchObject({
      total: 5,
      bands: ["g"],
      byState: { pending: 3, done: 1, failed_permanent: 1 },
      byBand: { g: { pending: 3, done: 1, failed_permanent: 1 } },
      lock: { pid: process.pid },
      journal: "wal-exclusive",
    });
    expect(r.progress).toMatchObject({ ratePerSec: 2.5, hosts: { "h:1": { state: "ok", extra: 7 } } });
    expect(r.etaSeconds).toBeCloseTo(3 / 2.5, 6);
    expect(r.failures).toMatchObject([{ id: "t1", band: "g", code: "HTTP_404" }]);
    l.close();

    // Closed: the last status file names no holder, and status reads the ledger itself again.
    expect(readStatusFile<LedgerStatusDoc>(statusFilePath(file))?.lock).toBeNull();
    const after = readStatus(file, 20);
    expect(after.from).toBe("ledger");
    expect(after.lock).toBeNull();
    expect(after.byState).toMatchObject({ pending: 3, done: 1, failed_permanent: 1 });
    expect(Object.keys(after).sort()).toEqual(Object.keys(r).sort());
  });

  it("status without a status file, while the ledger is held, is exit 6", () => {
    const file = join(tmp.dir, "vocut.db");
    const l = plannedLedger(file, "wal-exclusive");
    writeFileSync(statusFilePath(file), "{ torn");
    const err = thrown(() => readStatus(file, 20, "wal-exclusive"));
    expect(err.exitCode).toBe(ExitCode.Locked);
    expect(err.message).toContain("in use by another process");
    l.close();
  });

  it("delete: a rollback journal, readers beside the writer, no status file", () => {
    const file = join(tmp.dir, "vocut.db");
    const l = plannedLedger(file, "delete");
    expect(l.journal).toBe("delete");
    expect(sqliteFileIsWal(file)).toBe(false);
    const reader = Ledger.open(file, { create: false, lock: false });
    expect(reader.counts().total).toBe(5);
    reader.close();
    expect(readStatus(file).from).toBe("ledger");
    expect(existsSync(statusFilePath(file))).toBe(false);
    l.close();
  });

  it("a resume may change the mode: wal -> delete -> wal-exclusive -> wal, keeping every row", () => {
    const file = join(tmp.dir, "vocut.db");
    plannedLedger(file, "wal").close();
    expect(sqliteFileIsWal(file)).toBe(true);
    for (const journal of ["delete", "wal-exclusive", "wal"] as const) {
      const l = Ledger.open(file, { create: false, journal });
      expect(l.journal).toBe(journal);
      expect(l.counts().total).toBe(5);
      l.setMeta("seen", journal);
      l.close();
      expect(sqliteFileIsWal(file)).toBe(journal !== "delete");
      const db = new Database(file, { readonly: true });
      expect(
        JSON.parse(
          (db.prepare("SELECT value FROM meta WHERE key = 'seen'").get() as { value: string }).value,
        ),
      ).toBe(journal);
      db.close();
    }
    expect(JSON.parse(readFileSync(statusFilePath(file), "utf8")).journal).toBe("wal-exclusive");
  });
});

describe("WAL checkpoints", () => {
  it("a job whose claims scatter over the task table is not copied back into the ledger every 1,000 pages", () => {
    // Claims follow the plan's sort keys, which scatter over the rows: every commit dirties pages all
    // over the task table, and SQLite's default checkpoint (every 1,000 WAL pages) would copy those
    // pages back into the ledger file over and over (2 syscalls a page). 64 MiB of WAL between
    // checkpoints: the WAL keeps every frame of this job and the ledger file is written only at close.
    const file = join(tmp.dir, "vocut.db");
    const l = Ledger.open(file, { create: true, journal: "wal" });
    l.checkJob({ source: { kind: "template", template: "http://x/{id}", bands: ["g", "r", "i"] } });
    const n = 6000;
    l.transaction(() => {
      for (let i = 0; i < n; i++)
        l.addTarget({ row: i, id: `t${i}`, safeId: `t${i}`, raDeg: i, decDeg: 0 }, 3, (i * 7919) % n);
    });
    const dbBytesAfterPlan = readFileSync(file).length;
    for (;;) {
      const batch = l.claim(256);
      if (batch.length === 0) break;
      for (const t of batch)
        l.complete(t.seq, { kind: "done", bytes: 8640, sha256: "ab".repeat(32), httpStatus: 200 });
      l.flush();
    }
    const walFrames = (readFileSync(`${file}-wal`).length - 32) / (4096 + 24);
    expect(walFrames).toBeGreaterThan(2000); // at 1,000 the WAL restarts and stays near 1,000 frames
    expect(readFileSync(file).length).toBe(dbBytesAfterPlan); // no checkpoint yet
    l.close();
    expect(existsSync(`${file}-wal`)).toBe(false);
    const db = new Database(file, { readonly: true });
    expect(db.prepare("SELECT count(*) AS n FROM task WHERE state = 'done'").get()).toEqual({ n: 3 * n });
    db.close();
  });
});
