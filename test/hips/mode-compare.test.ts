import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ang2pixNest, maxCellRadiusRad, pix2angNest } from "../../src/healpix/index.js";
import { footprintRadiusDeg } from "../../src/sources/coverage.js";
import {
  hips2fitsStampBytes,
  ModeComparison,
  refineOrder,
  type TileCost,
  tileBytes,
} from "../../src/sources/hips/mode-compare.js";
import { chooseTileOrder, parseHipsProperties } from "../../src/sources/hips/properties.js";
import { planStamp } from "../../src/sources/hips/resample.js";
import { runCli, tempDir } from "../helpers/cli.js";
import { seeded } from "../helpers/prng.js";

const FIX = resolve(import.meta.dirname, "../../fixtures");
type T = { id: string; row: number; raDeg: number; decDeg: number };
/** The sample HiPS at its native scale; the rate follows. */
const SAMPLE_G = ["--hips", `g=${join(FIX, "hips/sample-g")}`, "--size", "32", "--pixscale", "0.8", "--rate"];

function sampleTargets(): T[] {
  return readFileSync(join(FIX, "sample/catalog.csv"), "utf8")
    .split("\n")
    .filter((l) => l.startsWith("SRC"))
    .map((l, i) => {
      const [id, ra, dec] = l.split(",");
      return { id: id as string, row: i + 1, raDeg: Number(ra), decDeg: Number(dec) };
    });
}

function angDeg(ra1: number, dec1: number, ra2: number, dec2: number): number {
  const r = Math.PI / 180;
  const h =
    Math.sin(((dec2 - dec1) * r) / 2) ** 2 +
    Math.cos(dec1 * r) * Math.cos(dec2 * r) * Math.sin(((ra2 - ra1) * r) / 2) ** 2;
  return (2 * Math.asin(Math.min(1, Math.sqrt(h)))) / r;
}

/**
 * The hand count: every tile near each target (found by sampling positions on a fine grid around it, not by
 * the disc walk), counted when one of its cells at the refinement order has its centre within the documented
 * reach (disc radius + max cell radius at that order and two orders deeper) of the target.
 */
function bruteForceTiles(targets: T[], t: TileCost, radiusDeg: number): number {
  const q = refineOrder(t.order, radiusDeg);
  const reach = radiusDeg + ((maxCellRadiusRad(q) + maxCellRadiusRad(q + 2)) * 180) / Math.PI;
  const tileDeg = (maxCellRadiusRad(t.order) * 180) / Math.PI;
  const all = new Set<number>();
  for (const p of targets) {
    const near = new Set<number>();
    const span = reach + tileDeg;
    const step = tileDeg / 8;
    const cosd = Math.max(Math.cos((p.decDeg * Math.PI) / 180), 1e-3);
    for (let dy = -span; dy <= span; dy += step) {
      for (let dx = -span; dx <= span; dx += step) {
        const dec = p.decDeg + dy;
        if (dec < -90 || dec > 90) continue;
        near.add(ang2pixNest(t.order, (((p.raDeg + dx / cosd) % 360) + 360) % 360, dec));
      }
    }
    const per = 4 ** (q - t.order);
    for (const tile of near) {
      for (let c = tile * per; c < (tile + 1) * per; c++) {
        const centre = pix2angNest(q, c);
        if (angDeg(p.raDeg, p.decDeg, centre.raDeg, centre.decDeg) <= reach) {
          all.add(tile);
          break;
        }
      }
    }
  }
  return all.size;
}

describe("mode comparison: distinct tiles against hips2fits requests, from HEALPix alone", () => {
  it("the sample (HiPS sample-g): tile count equals a brute-force hand count and bounds the tiles stamps read", () => {
    const props = parseHipsProperties(readFileSync(join(FIX, "hips/sample-g/properties"), "utf8"), "g");
    const geometry = { widthPx: 32, heightPx: 32, pixscaleArcsec: 0.8 };
    const t: TileCost = {
      order: chooseTileOrder(props, 0.8),
      tileWidth: 64,
      frame: "equatorial",
      bitpix: -32,
    };
    const targets = sampleTargets();
    const m = new ModeComparison([t], geometry, 5);
    for (const p of targets) m.add(p);
    const f = m.figures();
    expect(f.tiles).toBe(bruteForceTiles(targets, t, footprintRadiusDeg(geometry)));
    const read = new Set<number>();
    for (const p of targets)
      for (const n of planStamp(p.raDeg, p.decDeg, geometry, t, "bilinear").tiles) read.add(n);
    expect(f.tiles).toBeGreaterThanOrEqual(read.size);
    // One header block and 64 x 64 float32 = 16384 bytes of data in 6 blocks: 20160 bytes, as on disk.
    expect(tileBytes(t)).toBe(20160);
    expect(f.tileBytes).toBe(f.tiles * 20160);
    expect(f.stamps).toBe(40);
    expect(f.hips2fitsBytes).toBe(40 * hips2fitsStampBytes(geometry));
    expect(f.tileSeconds).toBeCloseTo(f.tiles / 5, 12);
    expect(f.hips2fitsSeconds).toBe(8);
  });

  it("a sparse all-sky catalog: hips2fits is cheaper; a dense field: tiles are; counts equal the hand count", () => {
    const rnd = seeded(14);
    const sparse: T[] = Array.from({ length: 300 }, (_, i) => ({
      id: `s${i}`,
      row: i + 1,
      raDeg: rnd() * 360,
      decDeg: (Math.asin(2 * rnd() - 1) * 180) / Math.PI,
    }));
    const dense: T[] = sparse.map((p) => ({
      ...p,
      raDeg: 150 + p.raDeg / 3600,
      decDeg: 2 + p.decDeg / 9000,
    }));
    const t: TileCost = { order: 8, tileWidth: 512, frame: "equatorial", bitpix: 16 };
    const geometry = { widthPx: 64, heightPx: 64, pixscaleArcsec: 1 };
    for (const [targets, cheaper] of [
      [sparse, "hips2fits"],
      [dense, "tiles"],
    ] as const) {
      const m = new ModeComparison([t], geometry, 10);
      for (const p of targets) m.add(p);
      const f = m.figures();
      expect(f.tiles).toBe(bruteForceTiles(targets, t, footprintRadiusDeg(geometry)));
      expect(f.cheaper).toBe(cheaper);
      expect(f.tileBytes).toBe(f.tiles * tileBytes(t));
    }
  }, 120_000);

  it("several bands: each counts its own tiles, shared grids walked once, as if each were compared alone", () => {
    const rnd = seeded(21);
    const targets: T[] = Array.from({ length: 200 }, (_, i) => ({
      id: `t${i}`,
      row: i + 1,
      raDeg: 150 + rnd() * 0.5,
      decDeg: 2 + rnd() * 0.5,
    }));
    const geometry = { widthPx: 64, heightPx: 64, pixscaleArcsec: 1 };
    const bands: TileCost[] = [
      { order: 9, tileWidth: 512, frame: "equatorial", bitpix: 16 },
      { order: 9, tileWidth: 512, frame: "equatorial", bitpix: -32 }, // same grid, other bytes per tile
      { order: 10, tileWidth: 512, frame: "equatorial", bitpix: 16 },
      { order: 9, tileWidth: 512, frame: "galactic", bitpix: 16 },
      { order: 9, tileWidth: 256, frame: "equatorial", bitpix: 16 }, // same order, other width: a band of its own
    ];
    const alone = bands.map((b) => {
      const m = new ModeComparison([b], geometry, 10);
      for (const p of targets) m.add(p);
      return m.figures();
    });
    const all = new ModeComparison(bands, geometry, 10);
    for (const p of targets) all.add(p);
    const f = all.figures();
    expect(f.stamps).toBe(200 * bands.length);
    expect(f.tiles).toBe(alone.reduce((a, x) => a + x.tiles, 0));
    expect(f.tileBytes).toBe(alone.reduce((a, x) => a + x.tileBytes, 0));
    // The grids differ: the three orders/frames give different counts, so a mix-up would show.
    expect(new Set(alone.map((x) => x.tiles)).size).toBeGreaterThan(1);
    expect(alone[1]?.tiles).toBe(alone[0]?.tiles);
    expect(alone[1]?.tileBytes).toBe((alone[1]?.tiles ?? 0) * tileBytes(bands[1] as TileCost));
    expect(tileBytes(bands[1] as TileCost)).not.toBe(tileBytes(bands[0] as TileCost));
  });

  it("run prints the same comparison in its first lines when a job starts (not on resume)", async () => {
    const tmp = tempDir();
    try {
      const args = [
        "run",
        join(FIX, "sample/catalog.csv"),
        "--out",
        join(tmp.dir, "out"),
        ...SAMPLE_G,
        "1000",
      ];
      const dry = await runCli(["plan", ...args.slice(1, 2), "--dry-run", ...args.slice(4)]);
      const lines = (text: string) => text.split("\n").filter((l) => l.includes("modes: "));
      expect(lines(dry.stderr)).toHaveLength(3);
      const first = await runCli(args);
      expect(first.code).toBe(0);
      expect(lines(first.stderr).map((l) => l.slice(l.indexOf("modes: ")))).toEqual(lines(dry.stderr));
      const again = await runCli(args);
      expect(again.code).toBe(0);
      expect(lines(again.stderr)).toEqual([]);
    } finally {
      tmp.cleanup();
    }
  });

  it("plan --dry-run names the cheaper mode on a dense catalog of the sample field", async () => {
    const tmp = tempDir();
    try {
      const rnd = seeded(7);
      const rows = Array.from(
        { length: 2000 },
        (_, i) => `d${i},${150.08 + rnd() * 0.04},${2.18 + rnd() * 0.04}`,
      );
      const cat = join(tmp.dir, "dense.csv");
      writeFileSync(cat, `id,ra,dec\n${rows.join("\n")}\n`);
      const r = await runCli(["plan", cat, "--dry-run", ...SAMPLE_G, "10"]);
      expect(r.code).toBe(0);
      const tiles = /modes: tiles \(--hips\): (\d+) distinct tile\(s\)/.exec(r.stderr);
      expect(Number(tiles?.[1])).toBeGreaterThan(20);
      expect(Number(tiles?.[1])).toBeLessThan(120);
      expect(r.stderr).toMatch(
        /modes: hips2fits \(--hips2fits\): 2000 request\(s\) \(one per stamp\), .*, 3 min at 10 req\/s/,
      );
      expect(r.stderr).toMatch(/modes: cheaper: tiles \(--hips\)/);
    } finally {
      tmp.cleanup();
    }
  });
});
