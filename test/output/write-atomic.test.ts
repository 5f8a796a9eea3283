import { createHash } from "node:crypto";
import { constants, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GroupSync } from "../../src/output/group-sync.js";
import {
  AtomicWriter,
  INLINE_WRITE_MAX,
  SYNCFS_MIN_FILES,
  TEMP_DIR_NAME,
} from "../../src/output/write-atomic.js";
import { tempDir } from "../helpers/cli.js";

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir("vocut-write-");
});
afterEach(() => tmp.cleanup());

const haveDsync = constants.O_DSYNC !== undefined;
const modes = haveDsync ? [true, false] : [false];

describe("AtomicWriter", () => {
  it("uses O_DSYNC by default where the platform has it", () => {
    expect(new AtomicWriter(tmp.dir).dsync).toBe(haveDsync);
    expect(new AtomicWriter(tmp.dir, { dsync: false }).dsync).toBe(false);
  });

  for (const dsync of modes) {
    it(`writes the body at the final path, in new folders, and leaves no temp file (dsync ${dsync})`, async () => {
      const w = new AtomicWriter(tmp.dir, { dsync });
      expect(w.prepare()).toBe(0);
      const bodies = Array.from({ length: 20 }, (_, i) => Buffer.alloc(5000 + i * 977, i + 1));
      const results = await Promise.all(
        bodies.map((b, i) => w.write(join(tmp.dir, `b${i % 3}`, "deep", `f${i}.fits`), b)),
      );
      bodies.forEach((b, i) => {
        expect(readFileSync(join(tmp.dir, `b${i % 3}`, "deep", `f${i}.fits`)).equals(b)).toBe(true);
        expect(results[i]).toEqual({
          bytes: b.length,
          sha256: createHash("sha256").update(b).digest("hex"),
        });
      });
      expect(readdirSync(w.tempDir)).toEqual([]);
      w.syncDirs();
      w.syncDirs();
    });
  }

  it("replaces an existing final file whole", async () => {
    const w = new AtomicWriter(tmp.dir);
    w.prepare();
    const path = join(tmp.dir, "x", "a.fits");
    await w.write(path, Buffer.alloc(9000, 1));
    await w.write(path, Buffer.from("short"));
    expect(readFileSync(path, "utf8")).toBe("short");
  });

  it("removes its temp file when the rename fails, and throws", async () => {
    const w = new AtomicWriter(tmp.dir);
    w.prepare();
    // A non-empty folder at the final path: rename(2) cannot replace it.
    mkdirSync(join(tmp.dir, "x", "a.fits", "inside"), { recursive: true });
    await expect(w.write(join(tmp.dir, "x", "a.fits"), Buffer.alloc(100))).rejects.toThrow();
    expect(readdirSync(w.tempDir)).toEqual([]);
  });

  it("prepare() removes temp files a killed run left behind", () => {
    const dir = join(tmp.dir, TEMP_DIR_NAME);
    mkdirSync(dir);
    writeFileSync(join(dir, "123-1.part"), "half");
    writeFileSync(join(dir, "123-2.part"), "half");
    expect(new AtomicWriter(tmp.dir).prepare()).toBe(2);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("prepare() keeps tagged temp files; leftovers() names them, adopt() puts them in place, discard() removes", async () => {
    const w0 = new AtomicWriter(tmp.dir, { makeDurable: () => new Promise(() => {}) });
    w0.prepare();
    const body = Buffer.from("x".repeat(2880));
    // Waits for a sync that never comes: the temp file stays, as after a kill -9.
    void w0.writeGrouped(join(tmp.dir, "g", "a.fits"), body, "17-abc");
    void w0.writeGrouped(join(tmp.dir, "g", "b.fits"), body, "18-abc");
    await expect(w0.writeGrouped(join(tmp.dir, "g", "c.fits"), body, "no/slash")).rejects.toThrow(TypeError);
    const dir = join(tmp.dir, TEMP_DIR_NAME);
    while (readdirSync(dir).length < 2 || w0.writingTemp > 0) await new Promise((r) => setTimeout(r, 1));
    writeFileSync(join(dir, "123-1.part"), "half");
    const w = new AtomicWriter(tmp.dir);
    expect(w.prepare()).toBe(1);
    const sha = createHash("sha256").update(body).digest("hex");
    const left = w.leftovers().sort((a, b) => a.tag.localeCompare(b.tag));
    expect(left.map((l) => [l.tag, l.sha256])).toEqual([
      ["17-abc", sha],
      ["18-abc", sha],
    ]);
    await w.adopt([{ tmp: (left[0] as { tmp: string }).tmp, finalPath: join(tmp.dir, "g", "a.fits") }]);
    w.discard((left[1] as { tmp: string }).tmp);
    w.syncDirs();
    expect(readFileSync(join(tmp.dir, "g", "a.fits"))).toEqual(body);
    expect(existsSync(join(tmp.dir, "g", "b.fits"))).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  describe("writeGrouped", () => {
    const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");
    const until = async (ok: () => boolean): Promise<void> => {
      while (!ok()) await new Promise((r) => setTimeout(r, 1));
    };

    for (const localDisk of [false, true])
      it(`keeps files out of their final paths until the group is synced, then renames them all (localDisk ${localDisk})`, async () => {
        const w = new AtomicWriter(tmp.dir, { localDisk });
        w.prepare();
        // Around INLINE_WRITE_MAX too: bigger bodies go through the thread pool even with localDisk.
        const bodies = [
          ...Array.from({ length: 30 }, (_, i) => Buffer.alloc(3000 + i * 511, i + 1)),
          Buffer.alloc(INLINE_WRITE_MAX, 7),
          Buffer.alloc(INLINE_WRITE_MAX + 1, 8),
          Buffer.alloc(3 * INLINE_WRITE_MAX + 5, 9),
        ];
        const paths = bodies.map((_, i) => join(tmp.dir, `b${i % 2}`, `f${i}.fits`));
        const results = bodies.map((b, i) => w.writeGrouped(paths[i] as string, b));
        // Every temp file written, none renamed: the group waits for its sync (GROUP_MS or drain()).
        await until(() => w.waiting === bodies.length);
        expect(paths.filter((p) => existsSync(p))).toEqual([]);
        expect(readdirSync(w.tempDir)).toHaveLength(bodies.length);
        await w.drain();
        expect(await Promise.all(results)).toEqual(bodies.map((b) => ({ bytes: b.length, sha256: sha(b) })));
        bodies.forEach((b, i) => {
          expect(readFileSync(paths[i] as string).equals(b)).toBe(true);
        });
        expect(readdirSync(w.tempDir)).toEqual([]);
        expect(w.waiting).toBe(0);
        w.syncDirs();
        w.close();
      });

    it("fsyncs a small group instead of calling syncfs", async () => {
      // A helper that would fail every call: a small group never asks it.
      const g = new GroupSync({ syncCommand: "false" });
      const w = new AtomicWriter(tmp.dir, { groupSync: g });
      w.prepare();
      const small = Array.from({ length: SYNCFS_MIN_FILES - 1 }, (_, i) =>
        w.writeGrouped(join(tmp.dir, `s${i}.fits`), Buffer.alloc(100, i)),
      );
      await w.drain();
      await Promise.all(small);
      expect(g.unavailable).toBe(false);
      expect(readdirSync(tmp.dir).filter((f) => f.endsWith(".fits"))).toHaveLength(SYNCFS_MIN_FILES - 1);
      w.close();
    });

    it("syncs a group on its own after a short wait, without drain()", async () => {
      const w = new AtomicWriter(tmp.dir);
      w.prepare();
      const path = join(tmp.dir, "x", "one.fits");
      await expect(w.writeGrouped(path, Buffer.from("one"))).resolves.toEqual({
        bytes: 3,
        sha256: sha(Buffer.from("one")),
      });
      expect(readFileSync(path, "utf8")).toBe("one");
      w.close();
    });

    it.runIf(process.platform === "linux")("uses syncfs through one helper on Linux", async () => {
      const g = new GroupSync();
      await expect(g.sync(tmp.dir)).resolves.toBe(true);
      await expect(g.sync(tmp.dir)).resolves.toBe(true);
      expect(g.unavailable).toBe(false);
      g.close();
    });

    for (const [what, options] of [
      ["the sync command fails (a sync without -f)", { syncCommand: "false" }],
      ["the helper cannot start", { shell: "/nonexistent/no-such-shell" }],
    ] as const) {
      it(`falls back to an fsync per file when ${what}`, async () => {
        const g = new GroupSync(options);
        const w = new AtomicWriter(tmp.dir, { groupSync: g });
        w.prepare();
        const bodies = Array.from({ length: SYNCFS_MIN_FILES + 4 }, (_, i) => Buffer.alloc(2000, i));
        const results = bodies.map((b, i) => w.writeGrouped(join(tmp.dir, `g${i}.fits`), b));
        await w.drain();
        expect(await Promise.all(results)).toEqual(bodies.map((b) => ({ bytes: b.length, sha256: sha(b) })));
        bodies.forEach((b, i) => {
          expect(readFileSync(join(tmp.dir, `g${i}.fits`)).equals(b)).toBe(true);
        });
        expect(g.unavailable).toBe(true);
        expect(readdirSync(w.tempDir)).toEqual([]);
        w.close();
      });
    }

    for (const localDisk of [false, true])
      it(`rejects only the file whose rename fails, removes its temp file, and keeps the rest (localDisk ${localDisk})`, async () => {
        const w = new AtomicWriter(tmp.dir, { localDisk });
        w.prepare();
        mkdirSync(join(tmp.dir, "blocked.fits", "inside"), { recursive: true });
        const before = Array.from({ length: 5 }, (_, i) =>
          w.writeGrouped(join(tmp.dir, `a${i}.fits`), Buffer.alloc(10, i)),
        );
        const bad = w.writeGrouped(join(tmp.dir, "blocked.fits"), Buffer.alloc(10));
        const after = Array.from({ length: 5 }, (_, i) =>
          w.writeGrouped(join(tmp.dir, `b${i}.fits`), Buffer.alloc(10, i + 1)),
        );
        const badResult = expect(bad).rejects.toThrow(/EISDIR|ENOTEMPTY|EEXIST/);
        await w.drain();
        await badResult;
        for (const good of [...before, ...after]) await expect(good).resolves.toMatchObject({ bytes: 10 });
        expect(readFileSync(join(tmp.dir, "b4.fits")).equals(Buffer.alloc(10, 5))).toBe(true);
        expect(readdirSync(join(tmp.dir, "blocked.fits"))).toEqual(["inside"]);
        expect(readdirSync(w.tempDir)).toEqual([]);
        w.close();
      });
  });
});
