import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { ImageIndexStore } from "../../src/ledger/image-index.js";
import { Ledger } from "../../src/ledger/ledger.js";
import { LEDGER_SCHEMA_VERSION } from "../../src/ledger/schema.js";
import { bilinear, coaddOnto } from "../../src/sources/images/coadd.js";
import { tempDir } from "../helpers/cli.js";

describe("ledger schema v3: the image index", () => {
  it("migrates a v2 ledger by adding the index tables (an R*Tree) and keeps its tasks", () => {
    const t = tempDir();
    try {
      const path = join(t.dir, "v2.db");
      const l = Ledger.open(path, { create: true });
      l.transaction(() => l.addTarget({ row: 1, id: "a", safeId: "a", raDeg: 1, decDeg: 2 }, 2));
      l.close();
      const db = new Database(path);
      // A v2 ledger: no image index, and no tar columns (v4) either.
      db.exec(
        "DROP TABLE image_box; DROP TABLE image; DROP TABLE image_file; " +
          "ALTER TABLE task DROP COLUMN tar_shard; ALTER TABLE task DROP COLUMN tar_offset; PRAGMA user_version = 2",
      );
      db.close();
      const again = Ledger.open(path, { create: false });
      expect(again.counts().total).toBe(2);
      // Migrated through v3 to v4: the tar columns are back.
      expect(again.tarFiles()).toEqual([]);
      const index = again.imageIndex();
      index.putFile(
        { path: "x.fits", size: 10, mtimeMs: 5 },
        [
          {
            hdu: 1,
            band: "j",
            width: 4,
            height: 4,
            header: "",
            dataOffset: 2880,
            dataBytes: 64,
            boxes: [
              { minRa: 359, maxRa: 360, minDec: -1, maxDec: 1 },
              { minRa: 0, maxRa: 1, minDec: -1, maxDec: 1 },
            ],
          },
        ],
        null,
      );
      expect(index.candidates(0.5, 0).map((c) => [c.path, c.hdu])).toEqual([["x.fits", 1]]);
      expect(index.candidates(359.5, 0)).toHaveLength(1);
      expect(index.candidates(180, 0)).toEqual([]);
      again.close();
      const check = new Database(path);
      expect(check.pragma("user_version", { simple: true })).toBe(LEDGER_SCHEMA_VERSION);
      check.close();
    } finally {
      t.cleanup();
    }
  });

  it("counts reads per file and drops a file's images and boxes with it", () => {
    const s = ImageIndexStore.inMemory();
    const file = { path: "a.fits", size: 1, mtimeMs: 1 };
    const image = {
      hdu: 0,
      band: null,
      width: 2,
      height: 2,
      header: "",
      dataOffset: 2880,
      dataBytes: 16,
      boxes: [{ minRa: 10, maxRa: 11, minDec: 0, maxDec: 1 }],
    };
    s.putFile(file, [image], null);
    s.putFile({ ...file, size: 2 }, [image, { ...image, hdu: 1 }], null);
    expect(s.files()).toEqual([{ path: "a.fits", size: 2, mtimeMs: 1, reads: 2, problem: null }]);
    expect(s.candidates(10.5, 0.5)).toHaveLength(2);
    s.dropFile("a.fits");
    expect(s.counts()).toEqual({ files: 0, images: 0 });
    expect(s.candidates(10.5, 0.5)).toEqual([]);
  });
});

describe("co-add sampling", () => {
  const img = {
    width: 2,
    height: 2,
    data: [1, 2, 3, 4],
    wcs: { worldToPixel: () => ({ x: 0, y: 0 }), pixelToWorld: () => ({ raDeg: 0, decDeg: 0 }) },
  };
  it("is bilinear inside, edge-extended on the outer half pixel, NaN beyond (as reproject)", () => {
    expect(bilinear(img, 0.5, 0.5)).toBe(2.5);
    expect(bilinear(img, 1, 0)).toBe(2);
    expect(bilinear(img, -0.5, -0.5)).toBe(1);
    expect(bilinear(img, 1.5, 1.25)).toBe(4);
    expect(bilinear(img, -0.51, 0)).toBeNaN();
    expect(bilinear(img, 0, 1.51)).toBeNaN();
  });
  it("ignores NaN in the mean and takes the middle two for an even median", () => {
    const stamp = { width: 1, height: 1, data: [Number.NaN] };
    const at = (v: number) => ({ ...img, data: [v, v, v, v] });
    expect(coaddOnto(stamp, 0, 0, img.wcs, [at(1), at(4)], "mean")[0]).toBe(2.5);
    expect(coaddOnto({ ...stamp, data: [10] }, 0, 0, img.wcs, [at(1), at(4), at(2)], "median")[0]).toBe(3);
    expect(coaddOnto(stamp, 0, 0, img.wcs, [], "median")[0]).toBeNaN();
  });
});
