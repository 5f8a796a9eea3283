import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { shardOf } from "../../src/plan/shard.js";
import { runCli, tempDir } from "../helpers/cli.js";
import { CutoutServer } from "../helpers/cutout-server.js";

let tmp: ReturnType<typeof tempDir>;
let server: CutoutServer | undefined;
beforeEach(() => {
  tmp = tempDir("vocut-ledger-flag-");
});
afterEach(async () => {
  await server?.stop();
  server = undefined;
  tmp.cleanup();
});

/** n targets, and one bad row (reported by shard 0 only). */
function writeCatalog(n: number): { path: string; ids: string[] } {
  const ids = Array.from({ length: n }, (_, i) => `obj${i}`);
  const lines = [
    "id,ra,dec",
    ...ids.map((id, i) => `${id},${(150 + i * 0.001).toFixed(6)},2`),
    "broken,400,1",
  ];
  const path = join(tmp.dir, "catalog.csv");
  writeFileSync(path, `${lines.join("\n")}\n`);
  return { path, ids };
}

const source = (url: string) => [
  "--hips2fits",
  "g=CDS/P/SDSS9/g,r=CDS/P/SDSS9/r",
  "--hips2fits-url",
  url,
  "--size",
  "8",
];

describe("--ledger on every command that reads a job (issue 15)", () => {
  it("status, fetch, retry, export, preview and merge take --ledger as run does", async () => {
    let gone = true;
    server = await new CutoutServer({
      fault: (_n, _q, key) =>
        gone && key.includes("|150.001|") ? { kind: "status", status: 404 } : undefined,
    }).start();
    const cat = writeCatalog(4);
    const out = join(tmp.dir, "out");
    // A ledger away from the output folder (node-local scratch on a cluster).
    const ledger = join(tmp.dir, "scratch", "job.db");
    const plan = await runCli(["plan", cat.path, "--out", out, "--ledger", ledger, ...source(server.url)]);
    expect(plan.code).toBe(0);
    expect(existsSync(join(out, "vocut.db"))).toBe(false);

    const fetch = await runCli(["fetch", "--ledger", ledger, "--rate", "1000", "--quiet"]);
    expect(fetch.code).toBe(4); // one 404 per band
    const status = await runCli(["status", "--ledger", ledger, "--json"]);
    expect(status.code).toBe(4);
    expect((JSON.parse(status.stdout) as { byState: Record<string, number> }).byState).toMatchObject({
      done: 6,
      failed_permanent: 2,
    });
    gone = false;
    const retry = await runCli(["retry", "--ledger", ledger, "--permanent", "--rate", "1000", "--quiet"]);
    expect(retry.code).toBe(0);

    const npy = join(tmp.dir, "x.npy");
    const exp = await runCli(["export", "--ledger", ledger, "--out", npy, "--json"]);
    expect(exp.code).toBe(0);
    expect((JSON.parse(exp.stdout) as { shape: number[] }).shape).toEqual([4, 2, 8, 8]);
    const png = join(tmp.dir, "sheet.png");
    const prev = await runCli(["preview", "--ledger", ledger, "--out", png, "--json"]);
    expect(prev.code).toBe(0);
    expect(existsSync(png)).toBe(true);

    // The argument and --ledger naming the same ledger is fine; two different ledgers are refused.
    expect((await runCli(["status", ledger, "--ledger", ledger])).code).toBe(0);
    const two = await runCli(["status", out, "--ledger", ledger]);
    expect(two.code).toBe(2);
    expect(two.stderr).toMatch(/two ledgers given/);
    for (const cmd of [["fetch"], ["retry"], ["export", "--out", npy], ["preview", "--out", png]]) {
      const r = await runCli([...cmd, out, "--ledger", ledger]);
      expect(r.code, cmd[0]).toBe(2);
    }
    // A folder given to --ledger means its vocut.db, as for the argument.
    const missing = await runCli(["status", "--ledger", join(tmp.dir, "scratch")]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/scratch\/vocut\.db/);
  }, 60_000);

  it("merge --ledger names the merged ledger (the same as --into)", async () => {
    server = await new CutoutServer().start();
    const cat = writeCatalog(12);
    const out = join(tmp.dir, "out");
    for (const i of [0, 1]) {
      const r = await runCli([
        "run",
        cat.path,
        "--out",
        out,
        "--shard",
        `${i}/2`,
        ...source(server.url),
        "--rate",
        "1000",
        "--quiet",
      ]);
      expect(r.code).toBe(0);
    }
    const parts = [0, 1].map((i) => join(out, `vocut.shard-${i}-of-2.db`));
    const merged = join(tmp.dir, "merged.db");
    const m = await runCli(["merge", ...parts, "--ledger", merged]);
    expect(m.code).toBe(0);
    expect(m.stdout).toMatch(/into .*merged\.db: 24 done/);
    expect(existsSync(join(out, "vocut.db"))).toBe(false);
    const st = await runCli(["status", "--ledger", merged]);
    expect(st.code).toBe(0);
    const both = await runCli(["merge", ...parts, "--ledger", merged, "--into", join(tmp.dir, "other.db")]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--into .* and --ledger .* differ/);
  }, 60_000);
});

describe("plan --dry-run honours --shard (issue 15)", () => {
  it("lists exactly shard i's targets; the 4 shards are disjoint and together the whole catalog", async () => {
    const cat = writeCatalog(60);
    const listed: string[][] = [];
    for (let i = 0; i < 4; i++) {
      const r = await runCli([
        "plan",
        cat.path,
        "--dry-run",
        "--shard",
        `${i}/4`,
        "--url",
        "https://example.org/c?ra={ra}&dec={dec}&b={band}",
        "--bands",
        "g,r",
      ]);
      expect(r.code).toBe(0);
      const rows = r.stdout
        .trim()
        .split("\n")
        .map((l) => l.split("\t"));
      const ids = [...new Set(rows.map((f) => f[1] as string))];
      // Both bands of each target of this shard, and nothing else.
      expect(rows.length).toBe(ids.length * 2);
      expect(ids.sort()).toEqual(cat.ids.filter((id) => shardOf(id, 4) === i).sort());
      // The bad row is reported once, by shard 0, as a real sharded plan does.
      expect(/broken|row 61|line 62/.test(r.stderr)).toBe(i === 0);
      listed.push(ids);
    }
    expect(listed.every((ids) => ids.length > 0)).toBe(true);
    expect(listed.flat().sort()).toEqual([...cat.ids].sort());
    // Without --shard: the whole catalog.
    const all = await runCli([
      "plan",
      cat.path,
      "--dry-run",
      "--url",
      "https://example.org/c?ra={ra}&dec={dec}&b={band}",
      "--bands",
      "g,r",
    ]);
    expect(all.stdout.trim().split("\n")).toHaveLength(120);
    const bad = await runCli([
      "plan",
      cat.path,
      "--dry-run",
      "--shard",
      "4/4",
      "--url",
      "x{ra}",
      "--bands",
      "g",
    ]);
    expect(bad.code).toBe(2);
  }, 60_000);
});
