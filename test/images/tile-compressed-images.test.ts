import { copyFileSync, cpSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { listHdus, readImage } from "../../src/fits/image.js";
import { ImageIndexStore } from "../../src/ledger/image-index.js";
import { updateImageIndex } from "../../src/sources/images/scan-images.js";
import { decodePlanes, planeContaining } from "../../src/sources/sia/local-cut.js";
import { listFiles, runCli, tempDir } from "../helpers/cli.js";

/**
 * fixtures/images/tilecomp, written by fixtures/fits/make_tile_compressed.py: packed/ holds fpack-style
 * tile-compressed images (int16 RICE_1 with BSCALE/BZERO; two float32 RICE_1 SUBTRACTIVE_DITHER_1 detectors),
 * plain/ the same images uncompressed (astropy's decompressed pixels). Stamps from both must be equal.
 */
const FIX = resolve(import.meta.dirname, "../../fixtures/images/tilecomp");
const CATALOG = join(FIX, "catalog.csv");

let t: { dir: string; cleanup: () => void };
beforeEach(() => {
  t = tempDir();
});
afterEach(() => t.cleanup());

async function run(folder: string, out: string): Promise<Awaited<ReturnType<typeof runCli>>> {
  return runCli(["run", CATALOG, "--images", folder, "--size", "16x12", "--out", out]);
}

describe("vocut run --images over tile-compressed files", () => {
  it("indexes .fz files and cuts the same stamps as from the uncompressed images", async () => {
    const packed = join(t.dir, "packed");
    cpSync(join(FIX, "packed"), packed, { recursive: true });
    // A file compressed with an algorithm vocut does not read: skipped with its own reason.
    copyFileSync(
      resolve(import.meta.dirname, "../../fixtures/fits/tilecomp/int16_hcompress.fits"),
      join(packed, "h.fits.fz"),
    );
    const a = await run(packed, join(t.dir, "out-packed"));
    expect(a.code, a.stderr).toBe(0);
    expect(a.stderr).toContain("image index: 3 FITS file(s)");
    expect(a.stderr).toContain("3 image HDU(s)");
    expect(a.stderr).not.toContain("no 2-D image HDU");
    expect(a.stderr).toMatch(
      /skipped h\.fits\.fz: unsupported compressed image \(HDU 1 \(ZCMPTYPE = 'HCOMPRESS_1'\): this tile compression is not supported/,
    );
    const b = await run(join(FIX, "plain"), join(t.dir, "out-plain"));
    expect(b.code, b.stderr).toBe(0);
    const stamps = listFiles(join(t.dir, "out-plain")).filter((f) => f.endsWith(".fits"));
    expect(listFiles(join(t.dir, "out-packed")).filter((f) => f.endsWith(".fits"))).toEqual(stamps);
    // c1..c4 are on an image, "off" is not.
    expect(stamps.map((s) => s.replace(/^.*\//, "")).sort()).toEqual([
      "c1.fits",
      "c2.fits",
      "c3.fits",
      "c4.fits",
    ]);
    for (const s of stamps) {
      const p = readImage(readFileSync(join(t.dir, "out-packed", s)));
      const q = readImage(readFileSync(join(t.dir, "out-plain", s)));
      expect([p.width, p.height]).toEqual([16, 12]);
      expect(Array.from(p.data), s).toEqual(Array.from(q.data));
      for (const k of ["CRPIX1", "CRPIX2", "CRVAL1", "CRVAL2", "CD1_1", "CD2_2", "CTYPE1"])
        expect(p.header.get(k), `${s} ${k}`).toEqual(q.header.get(k));
      // Same image and HDU, the compressed file's name.
      const name = String(q.header.get("VOIMG1"));
      expect(p.header.get("VOIMG1")).toBe(name.replace("r1.fits", "r1.fits.fz").replace("r2.fits", "r2.fz"));
      expect(p.data.some((v) => !Number.isNaN(v))).toBe(true);
    }
  });
});

describe("SIA local cuts (decodePlanes) over tile-compressed files", () => {
  const DIR = resolve(import.meta.dirname, "../../fixtures/fits/tilecomp");

  it("decompresses each detector of a multi-extension file as a plane", () => {
    const planes = decodePlanes(readFileSync(join(DIR, "mef.fits")));
    expect(planes.map((p) => [p.hdu, p.width, p.height, p.header.get("EXTNAME")])).toEqual([
      [1, 61, 47, "DET1"],
      [2, 61, 47, "DET2"],
    ]);
    for (const p of planes) {
      const b = readFileSync(join(DIR, `mef.${p.hdu}.bin`));
      const want = new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
      expect(Array.from(p.data, Math.fround)).toEqual(Array.from(want));
    }
    // The second detector is 72" east of the first: the position picks it.
    expect(planeContaining(planes, 150.02, 2.0)?.hdu).toBe(2);
  });

  it("a file whose only image is HCOMPRESS_1 is an UNSUPPORTED FitsError, not an empty list", () => {
    expect(() => decodePlanes(readFileSync(join(DIR, "int16_hcompress.fits")))).toThrow(
      /HDU 1 \(ZCMPTYPE = 'HCOMPRESS_1'\): this tile compression is not supported/,
    );
  });
});

describe("an index written before vocut read tile-compressed images", () => {
  it("reads again, once, an unchanged file recorded as 'no 2-D image HDU'", async () => {
    const dir = join(t.dir, "survey");
    mkdirSync(dir);
    copyFileSync(
      resolve(import.meta.dirname, "../../fixtures/fits/tilecomp/mef.fits"),
      join(dir, "wfcam.fit"),
    );
    copyFileSync(
      resolve(import.meta.dirname, "../../fixtures/fits/tilecomp/int16_hcompress.fits"),
      join(dir, "h.fit"),
    );
    const st = statSync(join(dir, "wfcam.fit"));
    const store = ImageIndexStore.inMemory();
    // What the previous version stored for it.
    store.putFile({ path: "wfcam.fit", size: st.size, mtimeMs: st.mtimeMs }, [], "no 2-D image HDU");
    const first = await updateImageIndex(store, dir, null);
    expect([first.read, first.images]).toEqual([2, 2]);
    const second = await updateImageIndex(store, dir, null);
    expect([second.read, second.images]).toEqual([0, 2]);
    expect(second.problems.map((p) => p.path)).toEqual(["h.fit"]);
  });
});

describe("a corrupt tile in an indexed file", () => {
  it("fails the stamps cut from that image permanently, with the path and tile, and the others are cut", async () => {
    const dir = join(t.dir, "corrupt");
    cpSync(join(FIX, "packed"), dir, { recursive: true });
    // Zero most of r1's heap: the header (and so the index) is intact, tile 1's Rice stream is not.
    const p = join(dir, "r1.fits.fz");
    const b = readFileSync(p);
    const start = listHdus(b)[1]?.dataOffset ?? 0;
    b.fill(0, start + 12 * 8 + 10, start + 12 * 8 + 400);
    writeFileSync(p, b);
    const out = join(t.dir, "out");
    const r = await run(dir, out);
    expect(r.code).toBe(4); // finished with permanent failures
    const st = await runCli(["status", out]);
    expect(st.stdout).toMatch(
      /"c1": failed_permanent after 1 attempt\(s\): TRUNCATED .*r1\.fits\.fz: HDU 1 \(ZCMPTYPE = 'RICE_1'\) tile 1: the Rice stream ends/,
    );
    expect(
      listFiles(out)
        .filter((f) => f.endsWith(".fits"))
        .sort(),
    ).toEqual(["image/c2.fits", "image/c3.fits"]);
  });
});
