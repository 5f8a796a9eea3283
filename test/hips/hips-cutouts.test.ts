import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readImage } from "../../src/fits/image.js";
import { ang2pixNest } from "../../src/healpix/index.js";
import { parseHipsProperties, tilePath } from "../../src/sources/hips/properties.js";
import { planStamp, sampleStamp } from "../../src/sources/hips/resample.js";
import { listFiles, runCli, SAMPLE_CATALOG, SAMPLE_HIPS, sampleHipsArgs, tempDir } from "../helpers/cli.js";
import { type FileRequest, serveFiles } from "../helpers/file-server.js";

const HIPS = SAMPLE_HIPS;
const orientation = JSON.parse(readFileSync(join(HIPS, "orientation.json"), "utf8")) as {
  sources: Array<{
    id: string;
    ra: number;
    dec: number;
    tile: number;
    predictedRow: number;
    predictedCol: number;
    peakRow: number;
    peakCol: number;
    valueAtPeak: number;
  }>;
  checked: Record<
    string,
    {
      sources?: Array<{
        id: string;
        ra: number;
        dec: number;
        tile: number;
        predictedRow: number;
        predictedCol: number;
        valueAtPeak: number;
        peakRow: number;
        peakCol: number;
      }>;
    }
  >;
};
const refs = JSON.parse(readFileSync(join(HIPS, "reference-cutouts.json"), "utf8")) as {
  stamps: Array<{
    name: string;
    ra: number;
    dec: number;
    file: string;
    width: number;
    height: number;
    pixelScaleArcsec: number;
    sampleGTiles: number[];
  }>;
};
const geom32 = { widthPx: 32, heightPx: 32, pixscaleArcsec: 0.8 };

function tileData(hips: string, npix: number): Float64Array | null {
  try {
    return readImage(readFileSync(join(HIPS, hips, tilePath(12, npix)))).data;
  } catch {
    return null;
  }
}

describe("in-tile orientation, pinned against Hipsgen tiles with known sources", () => {
  for (const [hips, frame, sources] of [
    ["sample-g", "equatorial", orientation.sources],
    ["sample-g-galactic", "galactic", orientation.checked["sample-g-galactic"]?.sources ?? []],
  ] as const) {
    it(`${hips}: the cell under each source is the pixel where Hipsgen put its peak`, () => {
      expect(sources.length).toBeGreaterThanOrEqual(5);
      for (const s of sources) {
        const plan = planStamp(
          s.ra,
          s.dec,
          { widthPx: 1, heightPx: 1, pixscaleArcsec: 0.8 },
          { order: 12, tileWidth: 64, frame },
          "nearest",
          // A 1x1 stamp whose one pixel is centred on the source (the hips2fits grid puts CRPIX at 0.5).
          { convention: "centred" },
        );
        expect(plan.tiles).toEqual([s.tile]);
        expect(plan.offset[0]).toBe(s.predictedRow * 64 + s.predictedCol);
        if (s.predictedRow === s.peakRow && s.predictedCol === s.peakCol) {
          const data = tileData(hips, s.tile);
          expect(Math.fround(data?.[plan.offset[0] as number] ?? Number.NaN)).toBeCloseTo(s.valueAtPeak, 3);
        }
      }
    });
  }
});

describe("client-side cutouts against astropy/reproject references from the original image", () => {
  // Tolerance: the sources are sharp (sigma 1.6 px) and the HiPS path resamples twice (image -> 0.805"
  // HEALPix cells by Hipsgen, cells -> stamp here), each bilinear; the reference resamples once. A
  // throwaway prototype and this code both land at rms 0.3-1.3 ADU with peak errors up to ~10% of a
  // 172 ADU peak; a wrong orientation or a one-pixel shift gives errors of the peak's size (> 50 ADU).
  for (const ref of refs.stamps) {
    for (const hips of ["sample-g", "sample-g-galactic"]) {
      it(`${ref.name} from ${hips} (tiles ${ref.sampleGTiles.length})`, () => {
        const props = parseHipsProperties(readFileSync(join(HIPS, hips, "properties"), "utf8"), hips);
        const grid = { order: props.order, tileWidth: props.tileWidth, frame: props.frame };
        // The references (make_reference_cutouts.py) put the target at the image centre: CRPIX 16.5.
        const plan = planStamp(ref.ra, ref.dec, geom32, grid, "bilinear", { convention: "centred" });
        if (hips === "sample-g") expect([...plan.tiles].sort()).toEqual([...ref.sampleGTiles].sort());
        const { data, covered } = sampleStamp(
          plan,
          plan.tiles.map((n) => tileData(hips, n)),
        );
        expect(covered).toBe(true);
        const expected = readImage(readFileSync(join(HIPS, ref.file))).data;
        let ss = 0;
        let max = 0;
        for (let i = 0; i < expected.length; i++) {
          const d = (data[i] as number) - (expected[i] as number);
          ss += d * d;
          max = Math.max(max, Math.abs(d));
        }
        expect(Math.sqrt(ss / expected.length)).toBeLessThan(1.5);
        expect(max).toBeLessThan(25);
      });
    }
  }

  it("nearest-neighbour picks, for every output pixel, the HEALPix cell containing its centre", () => {
    for (const [ra, dec] of [
      [150.1, 2.2],
      [0.0001, 89.99],
      [359.9999, -45],
      [45, 41.8103149],
      [90, 0],
    ] as const) {
      const plan = planStamp(
        ra,
        dec,
        { widthPx: 8, heightPx: 8, pixscaleArcsec: 0.8 },
        { order: 12, tileWidth: 64, frame: "equatorial" },
        "nearest",
      );
      // Every pixel's tile is the order-12 parent of the order-18 cell of its centre.
      expect(plan.tiles.length).toBeGreaterThan(0);
      for (const t of plan.tiles) expect(Number.isInteger(t) && t >= 0 && t < 12 * 4 ** 12).toBe(true);
      const centre = ang2pixNest(18, ra, dec);
      expect(plan.tiles).toContain(Math.floor(centre / 4 ** 6));
    }
  });
});

describe("vocut run --hips (local folders and HTTP)", () => {
  let tmp: ReturnType<typeof tempDir>;
  let server: Awaited<ReturnType<typeof serveFiles>> | undefined;
  const requests: FileRequest[] = [];
  /** The paths asked of the HiPS server in this test. */
  const seen = (): string[] => requests.map((r) => r.path);
  beforeEach(() => {
    tmp = tempDir();
    requests.length = 0;
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    tmp.cleanup();
  });

  /** A static file server over fixtures/hips, logging every path; its base URL. */
  async function serveHips(): Promise<string> {
    server = await serveFiles(HIPS, requests);
    return server.base;
  }

  it("cuts the sample catalog from HTTP tiles, each tile fetched once, same bytes as from disk, none on resume", async () => {
    const cat = SAMPLE_CATALOG;
    const local = join(tmp.dir, "local");
    const r1 = await runCli(sampleHipsArgs(cat, local, `g=${join(HIPS, "sample-g")}`, "--quiet"));
    expect(r1.code).toBe(0);
    const base = await serveHips();
    const remote = join(tmp.dir, "remote");
    const args = sampleHipsArgs(cat, remote, `g=${base}/sample-g`, "--rate", "1000", "--quiet");
    const r2 = await runCli(args);
    expect(r2.stderr).toBe("");
    expect(r2.code).toBe(0);
    const tileRequests = seen().filter((p) => p.includes("/Norder"));
    expect(new Set(tileRequests).size).toBe(tileRequests.length); // every tile at most once
    expect(seen().filter((p) => p.endsWith("/properties"))).toHaveLength(1);
    for (const id of ["SRC000", "SRC017", "SRC039"]) {
      expect(
        readFileSync(join(remote, "g", `${id}.fits`)).equals(readFileSync(join(local, "g", `${id}.fits`))),
      ).toBe(true);
    }
    const before = seen().length;
    // A new job on the same ledger folder re-plans nothing and fetches nothing; even a fresh plan that
    // needs the tiles again (retry --permanent of nothing) reads them from the verified cache.
    expect((await runCli(args)).code).toBe(0);
    expect(seen().length).toBe(before);
    expect(listFiles(join(remote, "g"))).toHaveLength(40);
  });

  it("shards sharing an output folder share its tile cache: a tile one shard fetched is not asked again", async () => {
    const base = await serveHips();
    const cat = SAMPLE_CATALOG;
    const out = join(tmp.dir, "out");
    const args = (shard: string) =>
      sampleHipsArgs(cat, out, `r=${base}/sample-r`, "--rate", "1000", "--quiet", "--shard", shard);
    // One after the other, so the second finds the first one's tiles (concurrent shards may both fetch).
    expect((await runCli(args("0/2"))).code).toBe(0);
    const firstTiles = new Set(seen().filter((p) => p.includes("/Norder")));
    expect((await runCli(args("1/2"))).code).toBe(0);
    const tiles = seen().filter((p) => p.includes("/Norder"));
    expect(firstTiles.size).toBeGreaterThan(0);
    // The sample's 40 targets sit on a handful of tiles: the second shard needs the same ones.
    expect(new Set(tiles).size).toBe(tiles.length);
    expect(
      (await runCli(["merge", join(out, "vocut.shard-0-of-2.db"), join(out, "vocut.shard-1-of-2.db")])).code,
    ).toBe(0);
    expect(listFiles(join(out, "r"))).toHaveLength(40);
  });

  it("a job stopped midway and resumed never asks for a tile twice (tiles recorded in the ledger)", async () => {
    const base = await serveHips();
    const cat = SAMPLE_CATALOG;
    const out = join(tmp.dir, "out");
    const args = sampleHipsArgs(cat, out, `r=${base}/sample-r`, "--quiet");
    const first = await runCli([...args, "--rate", "10", "--max-duration", "1"]);
    expect(first.code).toBe(5);
    // On a loaded machine the first second may end before any stamp is written: no "r" folder yet.
    const partial = existsSync(join(out, "r")) ? listFiles(join(out, "r")).length : 0;
    expect(partial).toBeLessThan(40);
    const second = await runCli([...args, "--rate", "1000"]);
    expect(second.code).toBe(0);
    expect(listFiles(join(out, "r"))).toHaveLength(40);
    const tileRequests = seen().filter((p) => p.includes("/Norder"));
    expect(tileRequests.length).toBeGreaterThan(0);
    expect(new Set(tileRequests).size).toBe(tileRequests.length);
  });

  it("a position outside the HiPS is no coverage (exit 0), and a bad --hips is a clear error", async () => {
    const cat = join(tmp.dir, "far.csv");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(cat, "id,ra,dec\nfar,10,10\nnear,150.1,2.2\n");
    const out = join(tmp.dir, "out");
    const r = await runCli([
      "run",
      cat,
      "--out",
      out,
      "--hips",
      join(HIPS, "sample-r"),
      "--size",
      "16",
      "--pixscale",
      "0.8",
      "--json",
    ]);
    expect(r.code).toBe(0);
    const states = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((e) => e.type === "task")
      .map((e) => `${String(e.id)}:${String(e.state)}`);
    expect(states.sort()).toEqual(["far:no_coverage", "near:done"]);
    const bad = await runCli(["run", cat, "--out", join(tmp.dir, "o2"), "--hips", tmp.dir]);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(/properties/);
  });
});
