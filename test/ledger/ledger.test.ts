import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ExitCode, VocutError } from "../../src/errors.js";
import { Ledger } from "../../src/ledger/ledger.js";
import { tempDir } from "../helpers/cli.js";

const require = createRequire(import.meta.url);
let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.cleanup());

const target = (row: number, id = `obj${row}`) => ({ row, id, safeId: id, raDeg: row % 360, decDeg: 0 });

function thrown(fn: () => unknown): VocutError {
  try {
    fn();
  } catch (err) {
    if (err instanceof VocutError) return err;
    throw err;
  }
  throw new Error("expected a VocutError");
}

describe("Ledger", () => {
  it("plans with INSERT OR IGNORE: re-planning the same rows adds nothing", () => {
    const file = join(tmp.dir, "l.db");
    const l = Ledger.open(file, { create: true });
    l.transaction(() => {
      for (let r = 1; r <= 10; r++) expect(l.addTarget(target(r), 3)).toBe("new");
    });
    l.transaction(() => {
      for (let r = 1; r <= 10; r++) expect(l.addTarget(target(r), 3)).toBe("known");
    });
    expect(l.counts().total).toBe(30);
    expect(l.counts().byState.pending).toBe(30);
    l.close();
  });

  it("reports duplicate ids and safe-name collisions instead of planning them", () => {
    const l = Ledger.open(join(tmp.dir, "l.db"), { create: true });
    expect(l.addTarget(target(1, "a"), 1)).toBe("new");
    expect(l.addTarget(target(2, "a"), 1)).toBe("duplicate_id");
    expect(l.addTarget({ row: 3, id: "b/c", safeId: "same", raDeg: 1, decDeg: 1 }, 1)).toBe("new");
    expect(l.addTarget({ row: 4, id: "b:c", safeId: "same", raDeg: 1, decDeg: 1 }, 1)).toBe(
      "safe_id_collision",
    );
    expect(l.counts().total).toBe(2);
    l.close();
  });

  it("refuses a resume with different job parameters, naming the difference (exit 2)", () => {
    const file = join(tmp.dir, "l.db");
    const l = Ledger.open(file, { create: true });
    l.checkJob({ size: 28, bands: ["g", "r"] });
    l.checkJob({ size: 28, bands: ["g", "r"] });
    const err = thrown(() => l.checkJob({ size: 32, bands: ["g", "r"] }));
    expect(err.exitCode).toBe(ExitCode.Usage);
    expect(err.message).toContain("size: ledger has 28, this command gives 32");
    l.close();
  });

  it("claims in plan order, marks running, and requeues rows left running by a killed process", () => {
    const file = join(tmp.dir, "l.db");
    const l = Ledger.open(file, { create: true });
    l.transaction(() => {
      for (let r = 1; r <= 5; r++) l.addTarget(target(r), 2);
    });
    const batch = l.claim(4);
    expect(batch.map((t) => [t.targetRow, t.bandIndex])).toEqual([
      [1, 0],
      [1, 1],
      [2, 0],
      [2, 1],
    ]);
    expect(l.counts().byState.running).toBe(4);
    l.close(); // as if killed: rows stay running
    const l2 = Ledger.open(file, { create: false });
    expect(l2.counts().byState.running).toBe(4);
    expect(l2.requeue({ running: true })).toBe(4);
    expect(l2.claim(100)).toHaveLength(10);
    l2.close();
  });

  it("commits completions in batches, and nothing before", () => {
    const file = join(tmp.dir, "l.db");
    const l = Ledger.open(file, { create: true, batchSize: 3, batchMs: 60_000 });
    l.transaction(() => {
      for (let r = 1; r <= 4; r++) l.addTarget(target(r), 1);
    });
    const tasks = l.claim(4);
    const reader = Ledger.open(file, { create: false, lock: false });
    l.complete(tasks[0]?.seq ?? -1, { kind: "done", bytes: 10, sha256: "x" });
    l.complete(tasks[1]?.seq ?? -1, { kind: "no_coverage", message: "none" });
    expect(reader.counts().byState.done).toBe(0); // buffered, not yet committed
    l.complete(tasks[2]?.seq ?? -1, {
      kind: "failed_permanent",
      code: "HTTP_404",
      message: "gone",
      httpStatus: 404,
    });
    expect(reader.counts().byState).toMatchObject({
      done: 1,
      no_coverage: 1,
      failed_permanent: 1,
      running: 1,
    });
    l.complete(tasks[3]?.seq ?? -1, { kind: "requeue" });
    l.flush();
    expect(reader.counts().byState.pending).toBe(1);
    expect(reader.failures(10)[0]).toMatchObject({ code: "HTTP_404", httpStatus: 404, attempts: 1 });
    reader.close();
    l.close();
  });

  it("locks: a second opener gets exit 6 naming the holder; a dead holder's lock is taken over", () => {
    const file = join(tmp.dir, "l.db");
    const l = Ledger.open(file, { create: true });
    // A different live process holding the lock: simulate by writing the lock row for our parent's pid.
    l.close();
    const holder = spawnSync(process.execPath, [
      "-e",
      `const D=require(${JSON.stringify(require.resolve("better-sqlite3"))});const d=new D(${JSON.stringify(file)});` +
        `d.prepare("INSERT OR REPLACE INTO lock(id,pid,host,started_at,heartbeat_at) VALUES (1,?,?,?,?)").run(${process.ppid},require("os").hostname(),Date.now(),Date.now());d.close()`,
    ]);
    expect(holder.status).toBe(0);
    const err = thrown(() => Ledger.open(file, { create: false }));
    expect(err.exitCode).toBe(ExitCode.Locked);
    expect(err.message).toContain(`pid ${process.ppid}`);
    // A pid that no longer exists: its lock is stale.
    const dead = spawnSync(process.execPath, [
      "-e",
      "process.stdout.write(String(process.pid))",
    ]).stdout.toString();
    const l2 = Ledger.open(file, { create: false, lock: false });
    l2.close();
    spawnSync(process.execPath, [
      "-e",
      `const D=require(${JSON.stringify(require.resolve("better-sqlite3"))});const d=new D(${JSON.stringify(file)});` +
        `d.prepare("UPDATE lock SET pid=?").run(${dead});d.close()`,
    ]);
    const l3 = Ledger.open(file, { create: false });
    expect(l3.lockHolder()?.pid).toBe(process.pid);
    l3.close();
  });

  it("rejects a corrupt file and a foreign SQLite database with exit 3", () => {
    const bad = join(tmp.dir, "bad.db");
    writeFileSync(bad, Buffer.alloc(8192, 0x41));
    expect(thrown(() => Ledger.open(bad, { create: false })).exitCode).toBe(ExitCode.Input);
    expect(thrown(() => Ledger.open(join(tmp.dir, "missing.db"), { create: false })).exitCode).toBe(
      ExitCode.Input,
    );
  });
});
