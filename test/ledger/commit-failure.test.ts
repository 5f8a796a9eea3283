import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { Ledger } from "../../src/ledger/ledger.js";
import { delay, tempDir } from "../helpers/cli.js";

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.cleanup());

const target = (row: number) => ({ row, id: `obj${row}`, safeId: `obj${row}`, raDeg: row, decDeg: 0 });

/**
 * A commit that fails (disk full: here SQLite's page limit, SQLITE_FULL, as on a full disk) must neither
 * escape complete() (the run loop calls it from error handlers, and from a timer an exception would kill
 * the process as an "internal error") nor be lost: the next flush() or claim() throws it, and close()
 * still closes the file and releases the lock. The rows stay "running", as after a kill.
 */
it("a failed batch commit is kept for flush()/claim(), never thrown by complete() or its timer; close() still closes", async () => {
  const file = join(tmp.dir, "l.db");
  const l = Ledger.open(file, { create: true, batchSize: 2, batchMs: 20 });
  // The connection itself (private): its page limit is the "disk" that fills up.
  const db = (l as unknown as { db: { pragma: (s: string, o?: object) => unknown } }).db;
  // A failure message too long for the pages the file has: recording it needs new pages.
  const long = "x".repeat(200_000);
  const enospc = expect.objectContaining({ code: "SQLITE_FULL" });
  l.transaction(() => {
    for (let r = 1; r <= 4; r++) l.addTarget(target(r), 1);
  });
  const tasks = l.claim(4);
  l.complete(tasks[0]?.seq ?? -1, { kind: "done", bytes: 1, sha256: "a" });
  l.complete(tasks[1]?.seq ?? -1, { kind: "done", bytes: 1, sha256: "b" }); // a batch: committed
  db.pragma(`max_page_count = ${db.pragma("page_count", { simple: true })}`);
  // From the timer: no uncaught exception (vitest would report it), the error is kept.
  l.complete(tasks[2]?.seq ?? -1, { kind: "failed_permanent", code: "X", message: long });
  await delay(100);
  // From a full batch: not thrown here either.
  expect(() => l.complete(tasks[3]?.seq ?? -1, { kind: "requeue" })).not.toThrow();
  expect(() => l.complete(tasks[3]?.seq ?? -1, { kind: "requeue" })).not.toThrow();
  expect(() => l.claim(1)).toThrow(enospc);
  expect(() => l.flush()).toThrow(enospc);
  expect(() => l.close()).toThrow(enospc);
  expect(() => l.close()).not.toThrow(); // closed: a second close does nothing

  // The file is intact, unlocked, and the unconfirmed tasks are still "running" for the next run.
  const again = Ledger.open(file, { create: false });
  expect(again.lockHolder()?.pid).toBe(process.pid);
  expect(again.counts().byState).toMatchObject({ done: 2, running: 2 });
  again.close();
});
