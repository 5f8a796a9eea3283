import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readImage } from "../../src/fits/image.js";
import { Ledger } from "../../src/ledger/ledger.js";
import { runCli, tempDir } from "../helpers/cli.js";
import { BANDS, buildJob, H, parseNpy, pixel, relPath, type TargetSpec, W } from "./job.js";

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir("vocut-export-");
});
afterEach(() => tmp.cleanup());

/** Set VOCUT_EXPORT_KEEP=DIR to keep the exported files (e.g. for fixtures/export/check_export.py). */
function keep(file: string): void {
  const dir = process.env.VOCUT_EXPORT_KEEP;
  if (dir === undefined || dir === "") return;
  mkdirSync(dir, { recursive: true });
  for (const f of [file, `${file}.csv`]) copyFileSync(f, join(dir, f.split("/").pop() as string));
}

const DONE = { done: true } as const;
const ODD_ID = 'b,"q" 2';

/** Catalog rows 1, 2, 4, 5 (row 3 was skipped by the planner): every task state, an odd id, BSCALE data. */
const TARGETS: readonly TargetSpec[] = [
  { row: 1, id: "a", ra: 150.25, dec: 2.5, cells: [DONE, DONE] },
  { row: 2, id: ODD_ID, ra: 10, dec: -1.125, cells: [{ done: true, scaled: true }, "no_coverage"] },
  { row: 4, id: "c", ra: 0.5, dec: 89.75, cells: ["failed_permanent", "pending"] },
  { row: 5, id: "d", ra: 359.875, dec: -30, cells: ["failed_retryable", DONE] },
];
/** What each (target index, band) of TARGETS should hold: its row when done, else NaN. */
const DONE_ROW: ReadonlyArray<readonly [number | null, number | null]> = [
  [1, 1],
  [2, null],
  [null, null],
  [null, 5],
];

/** Check an N x B x H x W array (C order) against TARGETS. */
function expectStack(data: ArrayLike<number>): void {
  expect(data.length).toBe(TARGETS.length * BANDS.length * H * W);
  DONE_ROW.forEach((bands, n) => {
    bands.forEach((row, b) => {
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const v = data[((n * BANDS.length + b) * H + y) * W + x] as number;
          if (row === null) expect(v, `target ${n} band ${b}`).toBeNaN();
          else expect(v, `target ${n} band ${b} (${x},${y})`).toBe(pixel(row, b, x, y));
        }
      }
    });
  });
}

const EXPECTED_CSV = [
  "index,id,ra,dec,g_state,g_file,r_state,r_file",
  "0,a,150.25,2.5,done,g/a.fits,done,r/a.fits",
  `1,"b,""q"" 2",10,-1.125,done,"${relPath(0, ODD_ID)}",no_coverage,`,
  "2,c,0.5,89.75,failed_permanent,,pending,",
  "3,d,359.875,-30,failed_retryable,,done,r/d.fits",
  "",
].join("\n");

/** Files in dir whose name contains ".partial-". */
const partials = (dir: string): string[] => readdirSync(dir).filter((f) => f.includes(".partial-"));

describe("vocut export --format npy (built CLI)", () => {
  it("stacks N x B x H x W float32 in catalog order with NaN for every cutout that is not done", async () => {
    const out = join(tmp.dir, "out");
    buildJob(out, TARGETS);
    const file = join(tmp.dir, "stack.npy");
    const r = await runCli(["export", out, "--format", "npy", "--out", file]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`wrote ${file}: npy float32 4 x 2 x 3 x 4`);
    expect(r.stdout).toContain("4 cutout(s), 4 NaN stamp(s)");

    const buf = readFileSync(file);
    const npy = parseNpy(buf);
    expect(npy.version).toEqual([1, 0]);
    expect(npy.header).toMatch(/^\{'descr': '<f4', 'fortran_order': False, 'shape': \(4, 2, 3, 4\), \} *\n$/);
    expect(npy.dataOffset % 64).toBe(0);
    expect(npy.shape).toEqual([4, 2, 3, 4]);
    expectStack(npy.data);
    expect(readFileSync(`${file}.csv`, "utf8")).toBe(EXPECTED_CSV);
    expect(partials(tmp.dir)).toEqual([]);
    keep(file);
  });

  it("takes the format from the extension and the ledger from its file; --json prints the summary", async () => {
    const out = join(tmp.dir, "out");
    const ledgerFile = buildJob(out, TARGETS);
    const file = join(tmp.dir, "sub", "x.npy");
    const r = await runCli(["export", ledgerFile, "--out", file, "--json"]);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(summary).toMatchObject({
      file,
      csv: `${file}.csv`,
      format: "npy",
      shape: [4, 2, 3, 4],
      bands: ["g", "r"],
      bytes: statSync(file).size,
      byState: { done: 4, no_coverage: 1, failed_permanent: 1, failed_retryable: 1, pending: 1, running: 0 },
    });
    expectStack(parseNpy(readFileSync(file)).data);
  });

  it("reads a ledger while a run holds its lock", async () => {
    const out = join(tmp.dir, "out");
    const ledger = Ledger.open(buildJob(out, TARGETS), { create: false });
    try {
      const file = join(tmp.dir, "live.npy");
      const r = await runCli(["export", out, "--out", file]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expectStack(parseNpy(readFileSync(file)).data);
    } finally {
      ledger.close();
    }
  });

  it("streams many targets across write chunks: the right stamp lands at the right index", async () => {
    const n = 25_000;
    const doneAt = new Set([0, 10_921, 10_922, 21_843, 21_844, 24_999]);
    const targets: TargetSpec[] = Array.from({ length: n }, (_, i) => ({
      row: i + 1,
      id: `s${i}`,
      ra: i / 100,
      dec: 0,
      cells: doneAt.has(i) ? [DONE, "no_coverage"] : [],
    }));
    const out = join(tmp.dir, "out");
    buildJob(out, targets);
    const file = join(tmp.dir, "big.npy");
    const r = await runCli(["export", out, "--out", file]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const { shape, data } = parseNpy(readFileSync(file));
    expect(shape).toEqual([n, 2, H, W]);
    const stamp = H * W;
    let finite = 0;
    for (let i = 0; i < data.length; i++) if (!Number.isNaN(data[i])) finite++;
    expect(finite).toBe(doneAt.size * stamp);
    for (const i of doneAt) {
      // float32: values above 2^24 are rounded.
      expect(data[i * 2 * stamp]).toBe(Math.fround(pixel(i + 1, 0, 0, 0)));
      expect(data[i * 2 * stamp + stamp - 1]).toBe(Math.fround(pixel(i + 1, 0, W - 1, H - 1)));
      expect(data[i * 2 * stamp + stamp]).toBeNaN();
    }
    const csv = readFileSync(`${file}.csv`, "utf8").trimEnd().split("\n");
    expect(csv).toHaveLength(n + 1);
    expect(csv[10_923]).toBe("10922,s10922,109.22,0,done,g/s10922.fits,no_coverage,");
    expect(csv[n]).toBe(`${n - 1},s${n - 1},249.99,0,done,g/s${n - 1}.fits,no_coverage,`);
  });
});

describe("vocut export --format fits (built CLI)", () => {
  it("writes one primary cube NAXIS1=W NAXIS2=H NAXIS3=B NAXIS4=N with BANDn cards, padded to 2880", async () => {
    const out = join(tmp.dir, "out");
    buildJob(out, TARGETS);
    const file = join(tmp.dir, "stack.fits");
    const r = await runCli(["export", out, "--format", "fits", "--out", file]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const buf = readFileSync(file);
    expect(buf.length % 2880).toBe(0);
    const img = readImage(buf);
    expect(img.bitpix).toBe(-32);
    expect([img.width, img.height, img.depth]).toEqual([W, H, BANDS.length * TARGETS.length]);
    const hd = img.header;
    expect(["NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "NAXIS4"].map((k) => hd.getNumber(k))).toEqual([
      4, 4, 3, 2, 4,
    ]);
    expect([hd.getString("BAND1"), hd.getString("BAND2"), hd.has("BAND3")]).toEqual(["g", "r", false]);
    expect(hd.cards.some((c) => c.key === "COMMENT" && String(c.value).includes("NaN where a cutout"))).toBe(
      true,
    );
    expectStack(img.data);
    expect(readFileSync(`${file}.csv`, "utf8")).toBe(EXPECTED_CSV);
    keep(file);
  });
});

describe("vocut export errors", () => {
  it("a cutout of another shape is exit 3 naming the files, and nothing is written", async () => {
    const out = join(tmp.dir, "out");
    buildJob(out, [
      { row: 1, id: "a", ra: 1, dec: 1, cells: [DONE, DONE] },
      { row: 2, id: "wide", ra: 2, dec: 2, cells: [DONE, { done: true, width: 5 }] },
      { row: 3, id: "tall", ra: 3, dec: 3, cells: [{ done: true, height: 7 }, DONE] },
    ]);
    const file = join(tmp.dir, "bad.npy");
    const r = await runCli(["export", out, "--out", file]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(
      "r/wide.fits is 5x3 pixels (width x height), the first cutout g/a.fits is 4x3",
    );
    expect(r.stderr).toContain("g/tall.fits is 4x7 pixels");
    expect(existsSync(file)).toBe(false);
    expect(existsSync(`${file}.csv`)).toBe(false);
    expect(partials(tmp.dir)).toEqual([]);
  });

  it("a done cutout whose file is gone is exit 3 naming it", async () => {
    const out = join(tmp.dir, "out");
    buildJob(out, TARGETS);
    const { rmSync } = await import("node:fs");
    rmSync(join(out, "r", "d.fits"));
    const file = join(tmp.dir, "gone.fits");
    const r = await runCli(["export", out, "--out", file]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("r/d.fits is missing");
    expect(existsSync(file)).toBe(false);
    expect(partials(tmp.dir)).toEqual([]);
  });

  it("usage errors exit 2; a missing ledger or one without a job exits 3", async () => {
    const out = join(tmp.dir, "out");
    buildJob(out, TARGETS);
    const bad = await runCli(["export", out, "--format", "hdf5", "--out", join(tmp.dir, "x.h5")]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--format hdf5: npy, fits or webdataset");
    const unknown = await runCli(["export", out, "--out", join(tmp.dir, "x.bin")]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("give --format npy|fits");
    const noOut = await runCli(["export", out]);
    expect(noOut.code).toBe(2);
    const missing = await runCli(["export", join(tmp.dir, "nope.db"), "--out", join(tmp.dir, "x.npy")]);
    expect(missing.code).toBe(3);
    Ledger.open(join(tmp.dir, "empty.db"), { create: true }).close();
    const empty = await runCli(["export", join(tmp.dir, "empty.db"), "--out", join(tmp.dir, "x.npy")]);
    expect(empty.code).toBe(3);
    expect(empty.stderr).toContain("has no job");
    expect(existsSync(join(tmp.dir, "x.npy"))).toBe(false);
  });
});
