import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Ledger } from "../../src/ledger/ledger.js";
import { listFiles, runCli, tempDir } from "../helpers/cli.js";
import { extractAll, parseTar, SAMPLE_HIPS_FLAGS, sampleFieldCatalog } from "../helpers/tar-files.js";

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir("vocut-run-tar-");
});
afterEach(() => tmp.cleanup());

const SAMPLE_CATALOG = resolve(import.meta.dirname, "../../fixtures/sample/catalog.csv");
const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");
const run = (cat: string, out: string, ...extra: string[]) =>
  runCli(["run", cat, "--out", out, ...SAMPLE_HIPS_FLAGS, "-q", ...extra]);

describe("--store tar", () => {
  it("the sample job: tar -xf of the tar files is the --store files tree byte for byte; readers agree; a job keeps its store", async () => {
    const files = join(tmp.dir, "files");
    const tar = join(tmp.dir, "tar");
    expect((await run(SAMPLE_CATALOG, files)).code).toBe(0);
    const r = await run(SAMPLE_CATALOG, tar, "--store", "tar");
    expect(r.code, r.stderr).toBe(0);

    const stamps = listFiles(files).filter((f) => f.endsWith(".fits"));
    expect(stamps).toHaveLength(120);
    // OUT holds the ledger and one tar file: no file per stamp.
    expect(listFiles(tar).filter((f) => !f.startsWith("vocut.db"))).toEqual(["tar/job-000000.tar"]);
    const x = join(tmp.dir, "x");
    mkdirSync(x);
    extractAll(join(tar, "tar"), x);
    expect(listFiles(x)).toEqual(stamps);
    for (const f of stamps)
      expect(readFileSync(join(x, f)).equals(readFileSync(join(files, f))), f).toBe(true);

    // The ledger records each member where it is, with its SHA-256.
    const ledger = Ledger.open(join(tar, "vocut.db"), { create: false, lock: false });
    const members = new Map(parseTar(join(tar, "tar", "job-000000.tar")).members.map((m) => [m.name, m]));
    const body = readFileSync(join(tar, "tar", "job-000000.tar"));
    for (const t of ledger.iterateTasks()) {
      const name = `${["g", "r", "i"][t.bandIndex]}/${t.safeId}.fits`;
      expect(t.tarShard).toBe("job-000000.tar");
      expect(t.tarOffset).toBe(members.get(name)?.offset);
      expect(sha(body.subarray(t.tarOffset as number, (t.tarOffset as number) + (t.bytes as number)))).toBe(
        t.sha256,
      );
    }
    ledger.close();

    // export reads members in place: the same array as from the files.
    for (const [dir, npy] of [
      [files, "f.npy"],
      [tar, "t.npy"],
    ] as const)
      expect((await runCli(["export", dir, "--out", join(tmp.dir, npy)])).code).toBe(0);
    expect(readFileSync(join(tmp.dir, "t.npy")).equals(readFileSync(join(tmp.dir, "f.npy")))).toBe(true);
    expect(readFileSync(join(tmp.dir, "t.npy.csv"), "utf8")).toBe(
      readFileSync(join(tmp.dir, "f.npy.csv"), "utf8"),
    );
    for (const [dir, png] of [
      [files, "f.png"],
      [tar, "t.png"],
    ] as const)
      expect((await runCli(["preview", dir, "--out", join(tmp.dir, png)])).code).toBe(0);
    expect(readFileSync(join(tmp.dir, "t.png")).equals(readFileSync(join(tmp.dir, "f.png")))).toBe(true);

    // WebDataset: catalog order, a target's bands adjacent, then its .json; the bytes are the stamps.
    const wds = join(tmp.dir, "wds");
    const w = await runCli(["export", tar, "--format", "webdataset", "--out", wds, "--json"]);
    expect(w.code, w.stderr).toBe(0);
    expect(JSON.parse(w.stdout)).toMatchObject({ shards: ["vocut-000000.tar"], samples: 40, stamps: 120 });
    const wm = parseTar(join(wds, "vocut-000000.tar")).members;
    expect(wm.slice(0, 8).map((m) => m.name)).toEqual([
      "SRC000.g.fits",
      "SRC000.r.fits",
      "SRC000.i.fits",
      "SRC000.json",
      "SRC001.g.fits",
      "SRC001.r.fits",
      "SRC001.i.fits",
      "SRC001.json",
    ]);
    const wbody = readFileSync(join(wds, "vocut-000000.tar"));
    const m0 = wm[0] as { offset: number; size: number };
    expect(
      wbody.subarray(m0.offset, m0.offset + m0.size).equals(readFileSync(join(files, "g", "SRC000.fits"))),
    ).toBe(true);
    expect(
      JSON.parse(wbody.subarray(wm[3]?.offset, (wm[3]?.offset ?? 0) + (wm[3]?.size ?? 0)).toString()),
    ).toEqual({
      id: "SRC000",
      row: expect.any(Number),
      ra: expect.any(Number),
      dec: expect.any(Number),
      bands: { g: "done", r: "done", i: "done" },
    });

    // A job keeps its store: the other one is refused like any changed job parameter (exit 2).
    const other = await run(SAMPLE_CATALOG, tar, "--store", "files");
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/store: ledger has "tar"/);
    const fetchOther = await runCli(["fetch", tar, "--store", "files"]);
    expect(fetchOther.code).toBe(2);
    expect(fetchOther.stderr).toMatch(/planned with --store tar/);
    expect((await runCli(["fetch", files, "--store", "tar"])).code).toBe(2);
    expect((await runCli(["fetch", tar, "--store", "zip"])).stderr).toMatch(/--store "zip": files or tar/);
    // The same store again: nothing to do, nothing appended.
    const size = readFileSync(join(tar, "tar", "job-000000.tar")).length;
    expect((await runCli(["fetch", tar, "--store", "tar", "-q"])).code).toBe(0);
    expect(readFileSync(join(tar, "tar", "job-000000.tar")).length).toBe(size);
    expect((await runCli(["status", tar])).code).toBe(0);

    // A hostile ledger cannot make export read outside OUT/tar: exit 3, naming the stamp, nothing written.
    const db = new Database(join(tar, "vocut.db"));
    db.prepare(
      "UPDATE task SET tar_shard = '../../../etc/passwd' WHERE seq = (SELECT min(seq) FROM task)",
    ).run();
    db.close();
    const bad = await runCli(["export", tar, "--out", join(tmp.dir, "bad.npy")]);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(/not one vocut writes/);
    expect(existsSync(join(tmp.dir, "bad.npy"))).toBe(false);
  }, 120_000);

  it("SLURM shards each append to their own tar files; merge gives one ledger export reads like a files job", async () => {
    const files = join(tmp.dir, "files");
    const out = join(tmp.dir, "sharded");
    expect((await run(SAMPLE_CATALOG, files)).code).toBe(0);
    for (const i of [0, 1]) {
      const r = await run(SAMPLE_CATALOG, out, "--store", "tar", "--shard", `${i}/2`);
      expect(r.code, r.stderr).toBe(0);
    }
    expect(readdirSync(join(out, "tar")).sort()).toEqual([
      "shard-0-of-2-000000.tar",
      "shard-1-of-2-000000.tar",
    ]);
    const m = await runCli(["merge", join(out, "vocut.shard-0-of-2.db"), join(out, "vocut.shard-1-of-2.db")]);
    expect(m.code, m.stderr).toBe(0);
    for (const [dir, npy] of [
      [files, "f.npy"],
      [out, "s.npy"],
    ] as const)
      expect((await runCli(["export", dir, "--out", join(tmp.dir, npy)])).code).toBe(0);
    expect(readFileSync(join(tmp.dir, "s.npy")).equals(readFileSync(join(tmp.dir, "f.npy")))).toBe(true);
    const x = join(tmp.dir, "x");
    mkdirSync(x);
    extractAll(join(out, "tar"), x);
    expect(listFiles(x)).toEqual(listFiles(files).filter((f) => f.endsWith(".fits")));
  }, 120_000);

  it("kill -9 three times (after a sync before the commit, twice inside a member's write), then resume: every stamp once, whole, where the ledger says", async () => {
    // A preloaded hook SIGKILLs the child vocut at a chosen call on a tar file: the Nth fdatasync (after
    // it returned: members durable, the ledger not yet told), or the Nth member write (after writing half of it).
    const hook = join(tmp.dir, "kill-on-tar.cjs");
    writeFileSync(
      hook,
      `const fs = require("fs");
const [kind, n] = (process.env.KILL_AT || ":").split(":");
const tarFds = new Set();
let count = 0;
const open = fs.open;
fs.open = function (path, ...rest) {
  const cb = rest.pop();
  return open.call(this, path, ...rest, (err, fd) => {
    if (!err && String(path).endsWith(".tar")) tarFds.add(fd);
    cb(err, fd);
  });
};
const write = fs.write;
fs.write = function (fd, buf, off, len, pos, cb) {
  if (kind === "write" && tarFds.has(fd) && ++count === Number(n)) {
    fs.writeSync(fd, buf, off, Math.floor(len / 2), pos);
    process.kill(process.pid, "SIGKILL");
  }
  return write.apply(this, arguments);
};
const fdatasync = fs.fdatasync;
fs.fdatasync = function (fd, cb) {
  if (kind !== "sync" || !tarFds.has(fd)) return fdatasync.apply(this, arguments);
  return fdatasync.call(this, fd, (err) => {
    if (++count === Number(n)) process.kill(process.pid, "SIGKILL");
    cb(err);
  });
};
require("module").syncBuiltinESMExports();
`,
    );
    const cat = sampleFieldCatalog(join(tmp.dir, "field.csv"), 600);
    const out = join(tmp.dir, "out");
    const args = ["run", cat, "--out", out, ...SAMPLE_HIPS_FLAGS, "-q", "--store", "tar"];
    for (const at of ["sync:2", "write:2", "write:1"]) {
      const r = await runCli(args, { NODE_OPTIONS: `--require ${hook}`, KILL_AT: at });
      expect(r.signal, `${at}: ${r.stderr}`).toBe("SIGKILL");
    }
    const done = await runCli(args);
    expect(done.code, done.stderr).toBe(0);

    const ledger = Ledger.open(join(out, "vocut.db"), { create: false, lock: false });
    const tasks = [...ledger.iterateTasks()];
    ledger.close();
    expect(tasks).toHaveLength(1800);
    expect(tasks.every((t) => t.state === "done")).toBe(true);
    const byName = new Map<string, { shard: string; offset: number; size: number }>();
    for (const shard of readdirSync(join(out, "tar"))) {
      // parseTar throws on a half member, a bad checksum or missing end blocks.
      const { members, end, length } = parseTar(join(out, "tar", shard));
      expect(length).toBe(end + 1024);
      for (const m of members) {
        expect(byName.has(m.name), `${m.name} twice`).toBe(false);
        byName.set(m.name, { shard, offset: m.offset, size: m.size });
      }
    }
    expect(byName.size).toBe(1800);
    const shards = new Map(readdirSync(join(out, "tar")).map((n) => [n, readFileSync(join(out, "tar", n))]));
    for (const t of tasks) {
      const m = byName.get(`${["g", "r", "i"][t.bandIndex]}/${t.safeId}.fits`);
      expect(m).toEqual({ shard: t.tarShard, offset: t.tarOffset, size: t.bytes });
      const body = (shards.get(m?.shard as string) as Buffer).subarray(
        t.tarOffset as number,
        (t.tarOffset as number) + (t.bytes as number),
      );
      expect(sha(body)).toBe(t.sha256);
    }
  }, 120_000);
});

describe("scripts/check-tar-ledger.mjs", () => {
  const SCRIPT = resolve(import.meta.dirname, "../../scripts/check-tar-ledger.mjs");
  const check = (out: string) => spawnSync(process.execPath, [SCRIPT, out], { encoding: "utf8" });

  it("passes a finished tar job; fails a changed byte, a cut member and a member the ledger does not know", async () => {
    const out = join(tmp.dir, "tar");
    expect((await run(SAMPLE_CATALOG, out, "--store", "tar")).code).toBe(0);
    const file = join(out, "tar", "job-000000.tar");
    const good = readFileSync(file);
    let r = check(out);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      "1 tar file(s), 120 member(s), 120 done task(s), 120 sha256 equal; 0 problem(s)",
    );

    // One byte of the last member's data changed.
    const last = parseTar(file).members.at(-1) as { name: string; offset: number };
    const changed = Buffer.from(good);
    changed[last.offset + 2880] = (changed[last.offset + 2880] as number) ^ 0xff;
    writeFileSync(file, changed);
    r = check(out);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`member ${last.name.replace(".", "\\.")} hashes to`));

    // Cut inside the last member, as a kill -9 in the middle of a write leaves it before the next start.
    writeFileSync(file, good.subarray(0, last.offset + 100));
    r = check(out);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/is cut/);

    // A whole member the ledger never recorded (written, then killed before the commit).
    const db = new Database(join(out, "vocut.db"));
    db.prepare(
      "UPDATE task SET state = 'pending', tar_shard = NULL, tar_offset = NULL WHERE tar_offset = ?",
    ).run(last.offset);
    db.close();
    writeFileSync(file, good);
    r = check(out);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`member ${last.name} is in no done task of the ledger`);
  });
});
