import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseHeader } from "../../src/fits/header.js";
import { readImage } from "../../src/fits/image.js";
import { decodeRaster, pngText, rasterKind } from "../../src/raster/raster.js";
import { parseHipsProperties, tilePath } from "../../src/sources/hips/properties.js";
import { decodeTile, PNG_FITS_KEYWORD } from "../../src/sources/hips/raster-stamp.js";
import { runCli, SAMPLE_CATALOG, SAMPLE_HIPS, sampleHipsArgs, tempDir } from "../helpers/cli.js";
import { type FileRequest, serveFiles } from "../helpers/file-server.js";

// 8-bit HiPS built by Hipsgen from the same images as the FITS sample HiPS (fixtures/hips/make_png_hips.sh).
const HIPS = SAMPLE_HIPS;
const CATALOG = SAMPLE_CATALOG;
const ARGS = ["--size", "32", "--pixscale", "0.8", "--quiet"];

const cutOf = (dir: string): [number, number] => {
  const p = parseHipsProperties(readFileSync(join(HIPS, dir, "properties"), "utf8"), dir);
  if (p.pixelCut === undefined) throw new Error(`${dir}: no hips_pixel_cut`);
  return [p.pixelCut[0], p.pixelCut[1]];
};
/** A value through a linear cut to 0..255 (what Hipsgen's PNG action does). */
const level = (v: number, [lo, hi]: [number, number]): number =>
  Math.min(255, Math.max(0, ((v - lo) / (hi - lo)) * 255));

function tiles(dir: string, ext: string): number[] {
  return readdirSync(join(HIPS, dir, "Norder12/Dir111640000"))
    .filter((f) => f.endsWith(`.${ext}`))
    .map((f) => Number(/Npix(\d+)/.exec(f)?.[1]));
}

/** Median and 99th percentile of |a - b| over the pixels where both are numbers. */
function diffStats(a: ArrayLike<number>, b: ArrayLike<number>): { median: number; p99: number; n: number } {
  const d: number[] = [];
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (!Number.isNaN(x) && !Number.isNaN(y)) d.push(Math.abs(x - y));
  }
  d.sort((p, q) => p - q);
  const at = (q: number): number => d[Math.min(d.length - 1, Math.floor(q * d.length))] ?? Number.NaN;
  return { median: at(0.5), p99: at(0.99), n: d.length };
}

describe("PNG/JPEG tiles: rows top-down, pinned against Hipsgen's FITS and PNG tiles of one survey", () => {
  it("every PNG tile, flipped to FITS row order, is its FITS tile through hips_pixel_cut (within 1 level)", () => {
    const cut = cutOf("sample-g-png");
    expect(cut).toEqual(cutOf("sample-g"));
    const ids = tiles("sample-g-png", "png");
    expect(ids).toHaveLength(55);
    let checked = 0;
    let unflippedWorse = 0;
    for (const n of ids) {
      const png = decodeTile(readFileSync(join(HIPS, "sample-g-png", tilePath(12, n, "png"))), 64, 1)[0];
      const fits = readImage(readFileSync(join(HIPS, "sample-g", tilePath(12, n)))).data;
      if (png === undefined) throw new Error("no channel");
      // Hipsgen's 8-bit levels are within one level of the rounded linear cut (not bit-exact: its own
      // arithmetic differs slightly); 52% are exactly the rounded value.
      const want = Array.from(fits, (v) => (Number.isNaN(v) ? Number.NaN : Math.round(level(v, cut))));
      let off = 0;
      for (let i = 0; i < want.length; i++) {
        // Blank FITS cells are transparent PNG pixels, and the other way round.
        if (Number.isNaN(png[i] as number) !== Number.isNaN(want[i] as number)) off++;
        else if (!Number.isNaN(want[i] as number)) {
          if (Math.abs((png[i] as number) - (want[i] as number)) > 1) off++;
          checked++;
        }
      }
      expect(off, `tile ${n}`).toBe(0);
      // The same tile read without the flip is far off wherever it has structure.
      const unflipped = new Float32Array(64 * 64);
      for (let r = 0; r < 64; r++) unflipped.set(png.subarray((63 - r) * 64, (64 - r) * 64), r * 64);
      if (diffStats(unflipped, want).p99 > 5) unflippedWorse++;
    }
    expect(checked).toBeGreaterThan(100_000);
    // 30 of the 55 tiles have enough structure to tell (the others are mostly blank or flat sky).
    expect(unflippedWorse).toBeGreaterThanOrEqual(25);
  });

  it("the colour HiPS has one channel per band (red = i, green = r, blue = g), each through its cut", () => {
    const cut: [number, number] = [0, 200];
    for (const n of tiles("sample-irg-png", "png").slice(0, 20)) {
      const rgb = decodeTile(readFileSync(join(HIPS, "sample-irg-png", tilePath(12, n, "png"))), 64, 3);
      ["sample-i", "sample-r", "sample-g"].forEach((dir, c) => {
        const fits = readImage(readFileSync(join(HIPS, dir, tilePath(12, n)))).data;
        const s = diffStats(
          rgb[c] as Float32Array,
          Array.from(fits, (v) => level(v, cut)),
        );
        expect(s.n).toBeGreaterThan(0);
        expect(s.p99).toBeLessThanOrEqual(1.5);
      });
    }
  });
});

// Each test runs the built CLI several times (up to 7 jobs): a loaded 2-core machine needs more than 30 s.
describe("vocut run --hips on PNG/JPEG surveys: stamps equal the FITS stamps under the survey's cut", {
  timeout: 240_000,
}, () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeAll(() => {
    tmp = tempDir();
  });
  afterAll(() => tmp.cleanup());

  /**
   * OUT of the sample job on `hips` (with `extra` flags), run once per file: several tests compare against
   * the same stamps (the FITS g band, the grey PNG one). Tests only read these folders or add files
   * beside the stamps.
   */
  const jobs = new Map<string, Promise<string>>();
  function run(out: string, hips: string, extra: string[] = []): Promise<string> {
    const key = [hips, ...extra].join(" ");
    let job = jobs.get(key);
    if (job === undefined) {
      job = (async () => {
        const dir = join(tmp.dir, out);
        const r = await runCli(sampleHipsArgs(CATALOG, dir, hips, "--quiet", ...extra));
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        return dir;
      })();
      jobs.set(key, job);
    }
    return job;
  }

  /** A PNG stamp's channels in FITS order (row 0 = south), NaN where transparent. */
  function readPngStamp(file: string): { width: number; height: number; channels: Float64Array[] } {
    const img = decodeRaster(readFileSync(file));
    const { width: W, height: H, data } = img;
    const channels = [0, 1, 2].map(() => new Float64Array(W * H));
    for (let r = 0; r < H; r++) {
      for (let i = 0; i < W; i++) {
        const o = (r * W + i) * 4;
        const q = (H - 1 - r) * W + i;
        for (let c = 0; c < 3; c++)
          (channels[c] as Float64Array)[q] = data[o + 3] === 0 ? Number.NaN : (data[o + c] as number);
      }
    }
    return { width: W, height: H, channels };
  }

  it("grey PNG: every stamp within 2 levels median and 12 at the 99th percentile, same WCS in the text chunk", async () => {
    const fitsDir = await run("g-fits", `g=${join(HIPS, "sample-g")}`);
    const pngDir = await run("g-png", `g=${join(HIPS, "sample-g-png")}`);
    const cut = cutOf("sample-g");
    const ids = readdirSync(join(fitsDir, "g")).map((f) => f.replace(/\.fits$/, ""));
    expect(ids).toHaveLength(40);
    expect(readdirSync(join(pngDir, "g")).sort()).toEqual(ids.map((id) => `${id}.png`).sort());
    let worstMedian = 0;
    let worstP99 = 0;
    for (const id of ids) {
      const fits = readImage(readFileSync(join(fitsDir, "g", `${id}.fits`)));
      const pngFile = join(pngDir, "g", `${id}.png`);
      expect(rasterKind(readFileSync(pngFile))).toBe("png");
      const png = readPngStamp(pngFile);
      expect([png.width, png.height]).toEqual([32, 32]);
      // Grey: R = G = B.
      expect(Array.from(png.channels[1] as Float64Array)).toEqual(
        Array.from(png.channels[0] as Float64Array),
      );
      const s = diffStats(
        png.channels[0] as Float64Array,
        Array.from(fits.data, (v) => (Number.isNaN(v) ? Number.NaN : level(v, cut))),
      );
      expect(s.n, id).toBeGreaterThan(0);
      expect(s.median, id).toBeLessThanOrEqual(2);
      expect(s.p99, id).toBeLessThanOrEqual(12);
      worstMedian = Math.max(worstMedian, s.median);
      worstP99 = Math.max(worstP99, s.p99);
      // The WCS travels in the text chunk as FITS cards, the same as the FITS stamp's.
      const text = pngText(readFileSync(pngFile))[PNG_FITS_KEYWORD] ?? "";
      const cards = text.split("\n").map((l) => l.padEnd(80));
      const header = parseHeader(
        Buffer.from(`${cards.join("")}${"END".padEnd(80)}`.padEnd(2880), "latin1"),
        0,
      ).header;
      for (const k of ["CTYPE1", "CTYPE2", "CRVAL1", "CRVAL2", "CRPIX1", "CRPIX2", "CDELT1", "CDELT2"]) {
        expect(header.get(k), `${id} ${k}`).toEqual(fits.header.get(k));
      }
      expect(header.get("NAXIS1")).toBe(32);
      expect(header.get("HIPSTILE")).toBe("png");
    }
    // --format fits: the same levels as an 8-bit FITS image, which fitsverify passes.
    const grey8 = await run("g-fits8", `g=${join(HIPS, "sample-g-png")}`, ["--format", "fits"]);
    for (const id of ids.slice(0, 5)) {
      const img = readImage(readFileSync(join(grey8, "g", `${id}.fits`)));
      expect([img.bitpix, img.depth]).toEqual([8, undefined]);
      const png = readPngStamp(join(pngDir, "g", `${id}.png`)).channels[0] as Float64Array;
      expect(Array.from(img.data)).toEqual(Array.from(png, (v) => (Number.isNaN(v) ? 0 : v)));
    }
    const v = spawnSync("fitsverify", ["-q", "-e", join(grey8, "g", `${ids[0]}.fits`)], { encoding: "utf8" });
    expect(v.stdout + v.stderr).toMatch(/verification OK/);
    // The figures, for the report (the assertions above hold them for every stamp).
    console.log(
      `grey PNG vs FITS under the cut: worst median ${worstMedian.toFixed(2)}, worst p99 ${worstP99.toFixed(2)}`,
    );
  });

  it("colour PNG: three channels, each equal to its band's FITS stamp under the 0..200 cut; --format fits is an 8-bit RGB cube", async () => {
    const bands = { i: "sample-i", r: "sample-r", g: "sample-g" } as const;
    const fitsDirs = await Promise.all(
      Object.entries(bands).map(([b, dir]) => run(`c-${b}`, `${b}=${join(HIPS, dir)}`)),
    );
    const pngDir = await run("c-png", `irg=${join(HIPS, "sample-irg-png")}`);
    const cubeDir = await run("c-cube", `irg=${join(HIPS, "sample-irg-png")}`, ["--format", "fits"]);
    const ids = readdirSync(join(pngDir, "irg")).map((f) => f.replace(/\.png$/, ""));
    expect(ids).toHaveLength(40);
    for (const id of ids) {
      const png = readPngStamp(join(pngDir, "irg", `${id}.png`));
      const cubeBytes = readFileSync(join(cubeDir, "irg", `${id}.fits`));
      const cube = readImage(cubeBytes);
      expect([cube.width, cube.height, cube.depth, cube.bitpix]).toEqual([32, 32, 3, 8]);
      fitsDirs.forEach((dir, c) => {
        const band = Object.keys(bands)[c] as string;
        const fits = readImage(readFileSync(join(dir, band, `${id}.fits`)));
        const s = diffStats(
          png.channels[c] as Float64Array,
          Array.from(fits.data, (v) => (Number.isNaN(v) ? Number.NaN : level(v, [0, 200]))),
        );
        expect(s.median, `${id} ${band}`).toBeLessThanOrEqual(2);
        expect(s.p99, `${id} ${band}`).toBeLessThanOrEqual(12);
        // The cube's plane c is the PNG's channel c (no-data pixels are 0 in the cube).
        const plane = cube.data.subarray(c * 1024, (c + 1) * 1024);
        const pngC = png.channels[c] as Float64Array;
        for (let p = 0; p < 1024; p++) expect(plane[p]).toBe(Number.isNaN(pngC[p] as number) ? 0 : pngC[p]);
      });
    }
    // export: uint8 N x C x H x W (FITS row order, as float exports), the same from PNG and from 8-bit FITS stamps.
    const npys = [pngDir, cubeDir].map(async (dir) => {
      const file = join(dir, "stack.npy");
      const r = await runCli(["export", dir, "--out", file, "--json"]);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ shape: [40, 3, 32, 32], dtype: "uint8", bands: ["irg"] });
      return readFileSync(file);
    });
    const [fromPng, fromCube] = await Promise.all(npys);
    if (fromPng === undefined || fromCube === undefined) throw new Error("no export");
    expect(fromPng.toString("latin1", 0, 128)).toMatch(/'descr': '\|u1'.*'shape': \(40, 3, 32, 32\)/);
    expect(fromPng.length).toBe(128 + 40 * 3 * 32 * 32);
    expect(fromPng.equals(fromCube)).toBe(true);
    const firstId = readFileSync(`${join(pngDir, "stack.npy")}.csv`, "utf8")
      .split("\n")[1]
      ?.split(",")[1] as string;
    const png0 = readPngStamp(join(pngDir, "irg", `${firstId}.png`));
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < 1024; p++) {
        const v = (png0.channels[c] as Float64Array)[p] as number;
        expect(fromPng[128 + c * 1024 + p]).toBe(Number.isNaN(v) ? 0 : v);
      }
    }
    // preview shows the stamps as they are: the sheet's first cell is the first stamp's pixels, north up.
    const sheet = join(tmp.dir, "sheet.png");
    const pv = await runCli(["preview", pngDir, "--out", sheet, "--json"]);
    expect(pv.code).toBe(0);
    const { scale, width } = JSON.parse(pv.stdout) as { scale: number; width: number };
    const sheetPx = decodeRaster(readFileSync(sheet)).data;
    const stampPx = decodeRaster(readFileSync(join(pngDir, "irg", `${firstId}.png`))).data;
    let colourful = 0;
    for (let r = 0; r < 32; r++) {
      for (let x = 0; x < 32; x++) {
        const o = (r * 32 + x) * 4;
        const q = ((2 + r * scale) * width + 2 + x * scale) * 4;
        const want = stampPx[o + 3] === 0 ? [0, 0, 0] : [stampPx[o], stampPx[o + 1], stampPx[o + 2]];
        expect([sheetPx[q], sheetPx[q + 1], sheetPx[q + 2]]).toEqual(want);
        if (want[0] !== want[2]) colourful++;
      }
    }
    expect(colourful).toBeGreaterThan(100);
    // fitsverify passes the 8-bit RGB stamp and the uint8 FITS export.
    const cubeExport = join(cubeDir, "stack.fits");
    expect((await runCli(["export", cubeDir, "--out", cubeExport])).code).toBe(0);
    expect(readImage(readFileSync(cubeExport)).bitpix).toBe(8);
    for (const file of [join(cubeDir, "irg", `${ids[0]}.fits`), cubeExport]) {
      const v = spawnSync("fitsverify", ["-q", "-e", file], { encoding: "utf8" });
      expect(v.stdout + v.stderr).toMatch(/verification OK/);
      expect(v.status).toBe(0);
    }
  });

  it("grey JPEG tiles are read too (lossy: the same bounds hold on this survey)", async () => {
    const fitsDir = await run("j-fits", `g=${join(HIPS, "sample-g")}`);
    const jpgDir = await run("j-jpg", `g=${join(HIPS, "sample-g-jpg")}`);
    const cut = cutOf("sample-g");
    for (const f of readdirSync(join(jpgDir, "g"))) {
      const id = f.replace(/\.png$/, "");
      const fits = readImage(readFileSync(join(fitsDir, "g", `${id}.fits`)));
      const s = diffStats(
        readPngStamp(join(jpgDir, "g", f)).channels[0] as Float64Array,
        Array.from(fits.data, (v) => (Number.isNaN(v) ? 0 : level(v, cut))),
      );
      expect(s.median, id).toBeLessThanOrEqual(2);
      expect(s.p99, id).toBeLessThanOrEqual(12);
    }
  });

  it("over HTTP: each PNG tile fetched once, the same stamps as from disk; an HTML page served as a tile is refused", async () => {
    const htmlTile = `/sample-g-png/${tilePath(12, 111649822, "png")}`;
    const requests: FileRequest[] = [];
    const srv = await serveFiles(HIPS, requests, (path) =>
      path === htmlTile
        ? {
            body: Buffer.from("<!DOCTYPE html><html><title>Maintenance</title></html>"),
            contentType: "text/html",
          }
        : undefined,
    );
    try {
      const { base } = srv;
      const local = await run("http-local", `g=${join(HIPS, "sample-g-png")}`);
      const dir = join(tmp.dir, "http");
      const r = await runCli(
        sampleHipsArgs(CATALOG, dir, `g=${base}/sample-g-png`, "--quiet", "--rate", "1000", "--retries", "0"),
      );
      const tileRequests = requests.map((q) => q.path).filter((p) => p.includes("/Norder") && p !== htmlTile);
      expect(new Set(tileRequests).size).toBe(tileRequests.length);
      const made = readdirSync(join(dir, "g"));
      // Stamps on the refused tile fail; every other stamp is byte for byte the one cut from disk.
      expect(made.length).toBeGreaterThan(0);
      expect(made.length).toBeLessThan(40);
      for (const f of made) {
        expect(f).toMatch(/\.png$/);
        expect(readFileSync(join(dir, "g", f)).equals(readFileSync(join(local, "g", f)))).toBe(true);
      }
      expect(r.code).toBe(4); // failed permanently
      const st = await runCli(["status", dir, "--failures", "5"]);
      expect(st.stdout).toMatch(
        /failed_permanent .*REFUSED .*Npix111649822\.png: an HTML\/XML page, not a PNG image/,
      );
    } finally {
      await srv.close();
    }
  });

  it("plan --dry-run names the PNG tiles each stamp reads and the .png file it writes", async () => {
    const r = await runCli([
      "plan",
      CATALOG,
      "--out",
      join(tmp.dir, "dry"),
      "--hips",
      `irg=${join(HIPS, "sample-irg-png")}`,
      "--dry-run",
      ...ARGS,
    ]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(40);
    for (const l of lines) {
      const f = l.split("\t");
      expect(f[2]).toMatch(/^(\S+\/Npix\d+\.png ?)+$/);
      expect(f[3]).toBe(`irg/${f[1]}.png`);
    }
  });

  it("--format png on a FITS-tile survey is refused (exit 2) and writes nothing", async () => {
    const r = await runCli(
      sampleHipsArgs(CATALOG, join(tmp.dir, "bad"), join(HIPS, "sample-g"), "--format", "png", "--quiet"),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--format png.*FITS tiles/);
    expect(existsSync(join(tmp.dir, "bad", "g"))).toBe(false);
  });
});
