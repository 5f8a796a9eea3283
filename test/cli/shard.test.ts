import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseShard, shardOf } from "../../src/plan/shard.js";
import { CLI, listFiles, runCli, startCli, tempDir } from "../helpers/cli.js";
import { CutoutServer } from "../helpers/cutout-server.js";

let tmp: ReturnType<typeof tempDir>;
let server: CutoutServer | undefined;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(async () => {
  await server?.stop();
  server = undefined;
  tmp.cleanup();
});

describe("--shard parsing and the id hash", () => {
  it("takes i/n (0-based) and SLURM array variables, and refuses the rest", () => {
    expect(parseShard("0/4", {})).toEqual({ index: 0, count: 4 });
    expect(parseShard("3/4", {})).toEqual({ index: 3, count: 4 });
    expect(() => parseShard("4/4", {})).toThrow(/index must be 0..3/);
    expect(() => parseShard("1/0", {})).toThrow(/count must be/);
    expect(() => parseShard("1of4", {})).toThrow(/i\/n/);
    expect(parseShard("auto", { SLURM_ARRAY_TASK_ID: "5", SLURM_ARRAY_TASK_COUNT: "8" })).toEqual({
      index: 5,
      count: 8,
    });
    // sbatch --array=1-8: ids 1..8, min 1.
    expect(
      parseShard("auto", {
        SLURM_ARRAY_TASK_ID: "8",
        SLURM_ARRAY_TASK_COUNT: "8",
        SLURM_ARRAY_TASK_MIN: "1",
      }),
    ).toEqual({ index: 7, count: 8 });
    expect(() => parseShard("auto", {})).toThrow(/SLURM_ARRAY_TASK_ID/);
  });

  it("splits ids deterministically and evenly", () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 20_000; i++) {
      const s = shardOf(`SDSS J${i}`, 4);
      counts[s] = (counts[s] ?? 0) + 1;
      expect(shardOf(`SDSS J${i}`, 4)).toBe(s);
    }
    for (const c of counts) expect(Math.abs(c - 5000)).toBeLessThan(300);
    expect(shardOf("anything", 1)).toBe(0);
  });
});

/** A catalog of n targets, and one bad row (reported once, by shard 0). */
function writeCatalog(n: number): string {
  const lines = ["id,ra,dec"];
  for (let i = 0; i < n; i++)
    lines.push(`obj${i},${(150 + i * 0.001).toFixed(6)},${(2 + i * 0.0007).toFixed(6)}`);
  lines.push("broken,400,1");
  const path = join(tmp.dir, "catalog.csv");
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}

const job = (cat: string, out: string, url: string, ...extra: string[]) => [
  "run",
  cat,
  "--out",
  out,
  "--hips2fits",
  "g=CDS/P/SDSS9/g,r=CDS/P/SDSS9/r",
  "--hips2fits-url",
  url,
  "--rate",
  "200",
  "--concurrency",
  "8",
  ...extra,
];

/** Every task of a ledger as "id band state sha256", sorted. */
function tasksOf(ledger: string): string[] {
  const db = new Database(ledger, { readonly: true });
  try {
    return (
      db
        .prepare(
          "SELECT g.id AS id, t.band_index AS b, t.state AS s, t.sha256 AS h FROM task t JOIN target g ON g.row = t.target_row",
        )
        .all() as Array<{ id: string; b: number; s: string; h: string }>
    )
      .map((r) => `${r.id} ${r.b} ${r.s} ${r.h}`)
      .sort();
  } finally {
    db.close();
  }
}

describe("SLURM-style sharding: 4 processes in parallel, then merge", () => {
  it("the union of 4 shards equals a single-process run, each product asked once, at 1/4 of the rate each", async () => {
    server = await new CutoutServer().start();
    const cat = writeCatalog(40);
    const out = join(tmp.dir, "out");
    const runs = [0, 1, 2, 3].map(
      (i) => startCli(job(cat, out, server?.url ?? "", "--shard", `${i}/4`)).done,
    );
    const results = await Promise.all(runs);
    for (const r of results) {
      expect(r.stderr).not.toMatch(/internal error/);
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(
        /shard \d\/4: 50\.0 req\/s and 2 connection\(s\) per host \(1\/4 of --rate 200\)/,
      );
    }
    // The bad row is reported by shard 0 only.
    expect(results.filter((r) => /line 42 \(row 41\)/.test(r.stderr))).toHaveLength(1);
    // Every product asked exactly once across the 4 processes.
    const perKey = server.countsByKey();
    expect(perKey.size).toBe(80);
    expect([...perKey.values()].every((n) => n === 1)).toBe(true);
    // Disjoint shards whose union is the catalog.
    const shardTasks = [0, 1, 2, 3].map((i) => tasksOf(join(out, `vocut.shard-${i}-of-4.db`)));
    expect(shardTasks.every((t) => t.length > 0)).toBe(true);
    expect(new Set(shardTasks.flat()).size).toBe(80);

    const m = await runCli(["merge", ...[0, 1, 2, 3].map((i) => join(out, `vocut.shard-${i}-of-4.db`))]);
    expect(m.code).toBe(0);
    expect(m.stdout).toMatch(/merged 4 of 4 shard\(s\) into .*vocut\.db: 80 done/);

    // The same job in one process.
    const single = join(tmp.dir, "single");
    expect((await runCli(job(cat, single, server.url))).code).toBe(0);
    expect(tasksOf(join(out, "vocut.db"))).toEqual(tasksOf(join(single, "vocut.db")));
    const files = listFiles(out).filter((f) => f.endsWith(".fits"));
    expect(files).toEqual(listFiles(single).filter((f) => f.endsWith(".fits")));
    for (const f of files)
      expect(readFileSync(join(out, f)).equals(readFileSync(join(single, f)))).toBe(true);
    expect(listFiles(out).filter((f) => f.includes(".vocut-tmp"))).toEqual([]);

    // The merged ledger serves status and export like a single run's.
    const st = JSON.parse((await runCli(["status", out, "--json"])).stdout) as {
      byState: Record<string, number>;
    };
    expect(st.byState.done).toBe(80);
    expect((await runCli(["status", out])).stdout).toMatch(/merged from 4 of 4 shard ledger/);
    expect((await runCli(["status", join(out, "vocut.shard-2-of-4.db")])).stdout).toMatch(
      /shard 2\/4 of the catalog/,
    );
    const e = await runCli(["export", out, "--out", join(tmp.dir, "x.npy"), "--json"]);
    expect(e.code).toBe(0);
    expect((JSON.parse(e.stdout) as { shape: number[] }).shape.slice(0, 2)).toEqual([40, 2]);
    // A resume of a shard with another shard spec is another job.
    const wrong = await runCli(
      job(cat, out, server.url, "--shard", "1/4", "--ledger", join(out, "vocut.shard-0-of-4.db")),
    );
    expect(wrong.code).toBe(2);
  }, 120_000);

  it("examples/slurm-array.sh runs as 4 array tasks and the last one merges the shards", async () => {
    server = await new CutoutServer().start();
    const cat = writeCatalog(24);
    const out = join(tmp.dir, "out");
    const script = resolve(import.meta.dirname, "../../examples/slurm-array.sh");
    const source = [
      "--hips2fits",
      "CDS/P/SDSS9/g",
      "--hips2fits-url",
      server.url,
      "--rate",
      "200",
      "--quiet",
    ];
    const tasks = [0, 1, 2, 3].map(
      (i) =>
        new Promise<number | null>((done) => {
          const child = spawn("bash", [script, cat, out, ...source], {
            stdio: "ignore",
            env: {
              ...process.env,
              VOCUT: `${process.execPath} ${CLI}`,
              SLURM_ARRAY_TASK_ID: String(i),
              SLURM_ARRAY_TASK_COUNT: "4",
            },
          });
          child.on("close", (code) => done(code));
        }),
    );
    expect(await Promise.all(tasks)).toEqual([0, 0, 0, 0]);
    const st = JSON.parse((await runCli(["status", out, "--json"])).stdout) as {
      byState: Record<string, number>;
      merged: { shards: number } | null;
    };
    expect(st.byState.done).toBe(24);
    expect(st.merged?.shards).toBe(4);
  }, 120_000);

  it("refuses (exit 2) a --shard whose count disagrees with the shard ledgers in OUT, naming them", async () => {
    server = await new CutoutServer().start();
    const cat = writeCatalog(4);
    const out = join(tmp.dir, "out");
    expect((await runCli([...job(cat, out, server.url, "--shard", "0/2"), "--quiet"])).code).toBe(0);
    const asked = server.requests.length;
    const other = await runCli([...job(cat, out, server.url, "--shard", "0/3"), "--quiet"]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/into 3 shard\(s\), but .* already holds .*: vocut\.shard-0-of-2\.db\./);
    // The resubmission, `sbatch --array=1` with --shard auto: SLURM says 1 task from 1.
    const slurm = {
      SLURM_ARRAY_TASK_ID: "1",
      SLURM_ARRAY_TASK_COUNT: "1",
      SLURM_ARRAY_TASK_MIN: "1",
      SLURM_ARRAY_TASK_MAX: "1",
    };
    const auto = await runCli([...job(cat, out, server.url, "--shard", "auto"), "--quiet"], slurm);
    expect(auto.code).toBe(2);
    expect(auto.stderr).toMatch(/--shard auto:2 or i\/2/);
    expect(server.requests.length).toBe(asked);
    const right = await runCli([...job(cat, out, server.url, "--shard", "auto:2")], slurm);
    expect(right.code).toBe(0);
    expect(right.stderr).toMatch(/shard 1\/2/);
  }, 60_000);

  it("merge refuses missing shards (unless --partial), foreign ledgers and mixed jobs; --shard auto reads SLURM variables", async () => {
    server = await new CutoutServer().start();
    const cat = writeCatalog(12);
    const out = join(tmp.dir, "out");
    const slurm = { SLURM_ARRAY_TASK_ID: "1", SLURM_ARRAY_TASK_COUNT: "2" };
    const r = await runCli([...job(cat, out, server.url, "--shard", "auto"), "--quiet"], slurm);
    expect(r.code).toBe(0);
    const part = join(out, "vocut.shard-1-of-2.db");
    const missing = await runCli(["merge", part]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/shard\(s\) 0 of 2 not given/);
    const partial = await runCli(["merge", part, "--partial", "--into", join(tmp.dir, "m.db"), "--json"]);
    expect(partial.code).toBe(0);
    expect((JSON.parse(partial.stdout) as { missing: number[] }).missing).toEqual([0]);

    const whole = join(tmp.dir, "whole");
    await runCli([...job(cat, whole, server.url), "--quiet"]);
    const foreign = await runCli(["merge", part, join(whole, "vocut.db")]);
    expect(foreign.code).toBe(3);
    expect(foreign.stderr).toMatch(/not the ledger of a --shard run/);

    const other = join(tmp.dir, "other");
    await runCli([...job(cat, other, server.url, "--shard", "0/2", "--size", "16"), "--quiet"]);
    const mixed = await runCli(["merge", part, join(other, "vocut.shard-0-of-2.db")]);
    expect(mixed.code).toBe(3);
    expect(mixed.stderr).toMatch(/holds another job/);
  }, 120_000);
});
