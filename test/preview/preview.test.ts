import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PNG } from "pngjs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { encodeImage } from "../../src/fits/image.js";
import { GAP, LABEL_H, sheetSize, stampScale } from "../../src/preview/preview.js";
import { buildJob, relPath, type TargetSpec } from "../export/job.js";
import { runCli, tempDir } from "../helpers/cli.js";

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir("vocut-preview-");
});
afterEach(() => tmp.cleanup());

/** 9 x 9 stamps with one bright source in the middle pixel. */
const S = 9;
const STAMP = { done: true, width: S, height: S } as const;

/** Targets a, b (r has no coverage), c (failed in both bands), d. */
const TARGETS: readonly TargetSpec[] = [
  { row: 1, id: "a", ra: 1, dec: 1, cells: [STAMP, STAMP] },
  { row: 2, id: "b", ra: 2, dec: 2, cells: [STAMP, "no_coverage"] },
  { row: 3, id: "c", ra: 3, dec: 3, cells: ["failed_permanent", "failed_permanent"] },
  { row: 4, id: "d", ra: 4, dec: 4, cells: [STAMP, STAMP] },
];

/** A sky of about 10 with small noise and a source of `peak` at the centre (same byte size as buildJob's). */
function stamp(peak: number, seed: number): Buffer {
  const data: number[] = [];
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const r2 = (x - 4) ** 2 + (y - 4) ** 2;
      data.push(10 + ((x * 7 + y * 13 + seed) % 5) * 0.1 + peak * Math.exp(-r2 / 2));
    }
  }
  return encodeImage({ bitpix: -32, shape: [S, S], data });
}

/** Build the job, then replace its done cutouts by stamps with a source; band r is 10 times brighter. */
function job(): string {
  const out = join(tmp.dir, "out");
  buildJob(out, TARGETS);
  TARGETS.forEach((t, n) => {
    t.cells.forEach((c, band) => {
      if (typeof c === "object")
        writeFileSync(join(out, relPath(band, t.id)), stamp(band === 0 ? 100 : 1000, n));
    });
  });
  return out;
}

function readPng(file: string): PNG {
  return PNG.sync.read(readFileSync(file));
}

const rgbAt = (png: PNG, x: number, y: number): [number, number, number] => {
  const o = (y * png.width + x) * 4;
  return [png.data[o] as number, png.data[o + 1] as number, png.data[o + 2] as number];
};

const K = stampScale(S, S);
const CELL = S * K;
/** Top-left sheet pixel of stamp n in a grid of `columns`. */
const cellAt = (n: number, columns: number, ids = false): [number, number] => [
  GAP + (n % columns) * (CELL + GAP),
  GAP + Math.floor(n / columns) * (CELL + (ids ? LABEL_H : 0) + GAP),
];

describe("vocut preview (built CLI)", () => {
  it("draws a single-band sheet: grid size, bright centres, a grey box with a red X where missing", async () => {
    const out = job();
    const file = join(tmp.dir, "sheet.png");
    const r = await runCli(["preview", out, "--out", file, "--band", "r"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("4 stamp(s) in 2 x 2");
    expect(r.stdout).toContain("2 missing");
    expect(readdirSync(tmp.dir).filter((f) => f.includes(".partial-"))).toEqual([]);

    const png = readPng(file);
    expect(K).toBeGreaterThanOrEqual(2);
    expect(CELL).toBeGreaterThanOrEqual(64);
    const size = sheetSize(4, CELL, CELL, false);
    expect([png.width, png.height]).toEqual([2 * CELL + 3 * GAP, 2 * CELL + 3 * GAP]);
    expect([png.width, png.height]).toEqual([size.width, size.height]);

    for (const n of [0, 3]) {
      const [x0, y0] = cellAt(n, 2);
      const centre = rgbAt(png, x0 + 4 * K + K / 2, y0 + 4 * K + K / 2);
      const corner = rgbAt(png, x0 + 1, y0 + 1);
      expect(centre[0], `stamp ${n}`).toBeGreaterThan(corner[0] + 100);
      expect(centre[0]).toBe(centre[2]);
    }
    for (const n of [1, 2]) {
      const [x0, y0] = cellAt(n, 2);
      expect(rgbAt(png, x0 + Math.floor(CELL / 2), y0 + 2), `stamp ${n} grey`).toEqual([128, 128, 128]);
      expect(rgbAt(png, x0, y0), `stamp ${n} X`).toEqual([220, 0, 0]);
      expect(rgbAt(png, x0 + CELL - 1, y0 + CELL - 1)).toEqual([220, 0, 0]);
      expect(rgbAt(png, x0 + CELL - 1, y0)).toEqual([220, 0, 0]);
      expect(rgbAt(png, x0 + Math.floor(CELL / 2), y0 + Math.floor(CELL / 2))).toEqual([220, 0, 0]);
    }
  });

  it("--rgb gives colour (red where the red band is brighter), --ids adds a label strip, --max cuts", async () => {
    const out = job();
    const file = join(tmp.dir, "rgb.png");
    const r = await runCli(["preview", out, "--out", file, "--rgb", "r,g,g", "--ids", "--max", "3"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const png = readPng(file);
    expect([png.width, png.height]).toEqual([2 * CELL + 3 * GAP, 2 * (CELL + LABEL_H) + 3 * GAP]);
    const [x0, y0] = cellAt(0, 2, true);
    const [red, green, blue] = rgbAt(png, x0 + 4 * K, y0 + 4 * K);
    expect(red).toBeGreaterThan(blue + 50);
    expect(green).toBe(blue);
    // Target b lacks r: missing. The label strip under stamp a has white ink.
    const [bx, by] = cellAt(1, 2, true);
    expect(rgbAt(png, bx, by)).toEqual([220, 0, 0]);
    let ink = 0;
    for (let y = y0 + CELL; y < y0 + CELL + LABEL_H; y++) {
      for (let x = x0; x < x0 + CELL; x++) if (rgbAt(png, x, y)[0] === 255) ink++;
    }
    expect(ink).toBeGreaterThan(0);
  });

  it("exits 2 for an unknown band, --band with --rgb, or a bad --rgb", async () => {
    const out = job();
    const file = join(tmp.dir, "x.png");
    const bad = await runCli(["preview", out, "--out", file, "--band", "z"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('no band "z"');
    expect((await runCli(["preview", out, "--out", file, "--band", "g", "--rgb", "r,g,g"])).code).toBe(2);
    expect((await runCli(["preview", out, "--out", file, "--rgb", "r,g"])).code).toBe(2);
    expect((await runCli(["preview", out, "--out", file, "--max", "0"])).code).toBe(2);
    expect(readdirSync(tmp.dir)).not.toContain("x.png");
  });
});
