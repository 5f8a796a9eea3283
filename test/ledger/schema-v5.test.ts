import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Ledger } from "../../src/ledger/ledger.js";
import { LEDGER_SCHEMA_VERSION } from "../../src/ledger/schema.js";
import { runCli, tempDir } from "../helpers/cli.js";

// fixtures/ledger/v4-tar-killed.db: a schema-v4 ledger written by vocut at 12c60a4 and SIGKILLed in the
// middle of a --store tar job from the local sample HiPS (fixtures/ledger/make-v4-ledger.sh).
const V4 = join(import.meta.dirname, "../../fixtures/ledger/v4-tar-killed.db");

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir("vocut-schema-v5-");
});
afterEach(() => tmp.cleanup());

type Row = Record<string, unknown>;
function rows(path: string, sql: string): Row[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare(sql).all() as Row[];
  } finally {
    db.close();
  }
}

describe("ledger schema v5: tasks kept in plan order", () => {
  it("a real v4 ledger left by a killed tar job migrates with every row and column intact", () => {
    const path = join(tmp.dir, "vocut.db");
    copyFileSync(V4, path);
    const before = rows(path, "SELECT * FROM task ORDER BY seq");
    const targets = rows(path, "SELECT * FROM target ORDER BY row");
    const states = new Set(before.map((r) => r.state));
    expect(states).toEqual(new Set(["done", "no_coverage", "running", "pending"]));
    expect(rows(path, "PRAGMA user_version")).toEqual([{ user_version: 4 }]);

    Ledger.open(path, { create: false }).close();

    expect(rows(path, "PRAGMA user_version")).toEqual([{ user_version: LEDGER_SCHEMA_VERSION }]);
    const [task] = rows(path, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'task'");
    expect(String(task?.sql)).toMatch(/PRIMARY KEY \(sort_key, seq\)\s*\) WITHOUT ROWID$/);
    expect(rows(path, "SELECT * FROM task ORDER BY seq")).toEqual(before);
    expect(rows(path, "SELECT * FROM target ORDER BY row")).toEqual(targets);
    expect(rows(path, "PRAGMA integrity_check")).toEqual([{ integrity_check: "ok" }]);
    expect(rows(path, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'task'")).toEqual(
      expect.arrayContaining([{ name: "task_pending" }]),
    );
    // The claim index answers as before: the killed run's tasks go back first, then plan order.
    const l = Ledger.open(path, { create: false });
    try {
      const running = before.filter((r) => r.state === "running").length;
      expect(l.requeue({ running: true })).toBe(running);
      const pending = before
        .filter((r) => r.state === "pending" || r.state === "running")
        .sort((a, b) => Number(a.sort_key) - Number(b.sort_key) || Number(a.seq) - Number(b.seq));
      const claimed = l.claim(pending.length + 10);
      expect(claimed.map((t) => t.seq)).toEqual(pending.map((r) => r.seq));
      expect(claimed.filter((t) => t.interrupted === 1)).toHaveLength(running);
    } finally {
      l.close();
    }
    // The done rows are the tar store's: each has its tar file, offset and sha256 (checked equal above).
    const done = before.filter((r) => r.state === "done");
    expect(done.length).toBeGreaterThan(0);
    expect(done.every((r) => r.tar_shard === "job-000000.tar" && typeof r.tar_offset === "number")).toBe(
      true,
    );
  });

  it("vocut status reads a v4 ledger (migrating it) and counts every state", async () => {
    const path = join(tmp.dir, "vocut.db");
    copyFileSync(V4, path);
    const count = (state: string): number =>
      rows(path, `SELECT count(*) AS n FROM task WHERE state = '${state}'`)[0]?.n as number;
    const want = { done: count("done"), pending: count("pending"), running: count("running") };
    const r = await runCli(["status", path, "--json"]);
    expect(r.code).toBe(5); // work left
    const doc = JSON.parse(r.stdout) as { byState: Record<string, number> };
    expect(doc.byState).toMatchObject(want);
  });

  it("claims and completions in plan order touch a few pages per commit when plan order is not catalog order", () => {
    // Client-side HiPS plans by HEALPix cell, so consecutive claims are far apart in the catalog. With
    // tasks kept by seq (v4) every commit of 256 tasks dirtied ~90 pages spread over the table.
    const path = join(tmp.dir, "vocut.db");
    const l = Ledger.open(path, { create: true, journal: "wal" });
    const n = 6000;
    try {
      l.checkJob({ source: { kind: "template", template: "http://x/{id}", bands: ["g", "r", "i"] } });
      l.transaction(() => {
        for (let i = 0; i < n; i++)
          l.addTarget({ row: i, id: `t${i}`, safeId: `t${i}`, raDeg: i, decDeg: 0 }, 3, (i * 7919) % n);
      });
      const walFrames = (): number => (readFileSync(`${path}-wal`).length - 32) / (4096 + 24);
      const perCommit: number[] = [];
      for (;;) {
        const before = walFrames();
        const batch = l.claim(256);
        if (batch.length === 0) break;
        for (const t of batch)
          l.complete(t.seq, { kind: "done", bytes: 8640, sha256: "ab".repeat(32), httpStatus: 200 });
        l.flush();
        perCommit.push(walFrames() - before);
      }
      perCommit.sort((a, b) => a - b);
      const median = perCommit[perCommit.length >> 1] as number;
      expect(perCommit.length).toBe(Math.ceil((3 * n) / 256));
      expect(median).toBeLessThan(30); // two commits (claim, completion) of 256 neighbouring rows
    } finally {
      l.close();
    }
    expect(rows(path, "SELECT count(*) AS n FROM task WHERE state = 'done'")).toEqual([{ n: 3 * n }]);
  });
});
