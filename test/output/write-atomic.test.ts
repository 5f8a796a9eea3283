import { createHash } from "node:crypto";
import { constants, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AtomicWriter, TEMP_DIR_NAME } from "../../src/output/write-atomic.js";
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
});
