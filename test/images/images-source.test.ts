import { cpSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readImage } from "../../src/fits/image.js";
import { listFiles, runCli, tempDir } from "../helpers/cli.js";

/** Fixtures written by fixtures/images/make_images.py (astropy Cutout2D, reproject, numpy). */
const FIX = resolve(import.meta.dirname, "../../fixtures/images");
const CATALOG = join(FIX, "catalog.csv");

interface Pick {
  image: string;
  crpix: [number, number];
  stamp: Array<number | null>;
  mean?: Array<number | null>;
  median?: Array<number | null>;
  coaddInputs?: string[];
}
interface Expected {
  width: number;
  height: number;
  targets: Array<{
    id: string;
    bands: Record<string, { images: Array<{ name: string; margin: number }>; margin?: Pick; first?: Pick }>;
  }>;
}
const expected = JSON.parse(readFileSync(join(FIX, "expected.json"), "utf8")) as Expected;
const BANDS = { J: "j", H: "h" } as const;

let t: { dir: string; cleanup: () => void };
let survey: string;
let out: string;
beforeEach(() => {
  t = tempDir();
  // A private copy: the incremental tests touch, add and remove files.
  survey = join(t.dir, "survey");
  cpSync(join(FIX, "survey"), survey, { recursive: true });
  out = join(t.dir, "out");
});
afterEach(() => t.cleanup());

function args(...extra: string[]): string[] {
  return ["run", CATALOG, "--images", survey, "--bands", "J,H", "--size", "16x12", "--out", out, ...extra];
}

function stamp(band: string, id: string): ReturnType<typeof readImage> {
  return readImage(readFileSync(join(out, band, `${id}.fits`)));
}

function ledgerRows<T>(sql: string): T[] {
  const db = new Database(join(out, "vocut.db"), { readonly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

function taskStates(labels = ["J", "H"]): Map<string, { state: string; message: string | null }> {
  const rows = ledgerRows<{ id: string; band: number; state: string; message: string | null }>(
    `SELECT g.id AS id, t.band_index AS band, t.state AS state, t.error_message AS message
       FROM task t JOIN target g ON g.row = t.target_row`,
  );
  return new Map(rows.map((r) => [`${labels[r.band]}/${r.id}`, r]));
}

/** The stamp's values as astropy would read them: null for NaN. */
function values(img: ReturnType<typeof readImage>): Array<number | null> {
  return [...img.data].map((v) => (Number.isNaN(v) ? null : v));
}

function expectClose(got: Array<number | null>, want: Array<number | null>, tol: number): void {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => {
    const w = want[i] ?? null;
    if (w === null || g === null) expect([i, g]).toEqual([i, w]);
    else if (Math.abs(g - w) > tol) expect([i, g]).toEqual([i, w]);
  });
}

describe("vocut run --images DIR", () => {
  it("cuts each stamp from the image with the largest margin, pixel for pixel as astropy Cutout2D", async () => {
    const r = await runCli(args());
    expect(r.stderr).toContain("image index: 7 FITS file(s)");
    expect(r.stderr).toContain("7 image HDU(s)");
    expect(r.stderr).toMatch(/skipped notes\/junk\.fits: not readable as FITS/);
    expect(r.code).toBe(0);
    const states = taskStates();
    let done = 0;
    for (const target of expected.targets) {
      for (const [label, key] of Object.entries(BANDS)) {
        const e = target.bands[key];
        const st = states.get(`${label}/${target.id}`);
        if (e === undefined || e.images.length === 0) {
          expect(st?.state, `${label}/${target.id}`).toBe("no_coverage");
          expect(st?.message).toMatch(/no .*image in .* contains this position/);
          continue;
        }
        const want = e.margin as Pick;
        const img = stamp(label, target.id);
        expect([img.width, img.height]).toEqual([expected.width, expected.height]);
        expect(values(img), `${label}/${target.id}`).toEqual(want.stamp);
        expect(img.header.get("CRPIX1")).toBeCloseTo(want.crpix[0], 9);
        expect(img.header.get("CRPIX2")).toBeCloseTo(want.crpix[1], 9);
        expect(img.header.get("VOIMG1")).toBe(want.image);
        expect(img.header.get("VOINPUTS")).toBe(1);
        expect(img.header.get("VOPICK")).toBe("margin");
        expect(img.header.get("BAND")).toBe(label);
        // The image's own cards travel with the stamp; its integer scaling does not.
        expect(img.header.get("CTYPE1")).toBe("RA---TAN");
        expect(img.header.has("BSCALE")).toBe(false);
        // So do its other keywords (filter, exposure), read from the HDU the stamp was cut from.
        const [file, hdu] = /^(.*)\[(\d+)\]$/.exec(want.image)?.slice(1) ?? [];
        const source = readImage(readFileSync(join(FIX, "survey", file as string)), Number(hdu)).header;
        for (const key of ["FILTER", "EXPTIME"]) {
          expect(img.header.get(key), `${label}/${target.id} ${key}`).toEqual(source.get(key));
        }
        expect(img.header.has("CHECKSUM")).toBe(false);
        done++;
      }
    }
    expect(done).toBe(12);
    // The two-image target shows that the margin rule is not the path order.
    const ab = expected.targets.find((x) => x.id === "a_b")?.bands.j;
    expect(ab?.margin?.image).toBe("b.fits[0]");
    expect(ab?.first?.image).toBe("a.fits[0]");
    // The BLANK pixel of the scaled-integer extension is NaN in the stamp, as astropy reads it.
    expect(values(stamp("J", "c2_only")).some((v) => v === null)).toBe(
      (expected.targets.find((x) => x.id === "c2_only")?.bands.j?.margin?.stamp ?? []).some(
        (v) => v === null,
      ),
    );
  });

  it("--pick first cuts from the first containing image by path", async () => {
    const r = await runCli(args("--pick", "first"));
    expect(r.code).toBe(0);
    for (const target of expected.targets) {
      for (const [label, key] of Object.entries(BANDS)) {
        const want = target.bands[key]?.first;
        if (want === undefined) continue;
        const img = stamp(label, target.id);
        expect(values(img), `${label}/${target.id}`).toEqual(want.stamp);
        expect(img.header.get("VOIMG1")).toBe(want.image);
      }
    }
  });

  for (const stat of ["mean", "median"] as const) {
    it(`--coadd ${stat} combines every containing image onto the picked stamp's grid like reproject + numpy`, async () => {
      const r = await runCli(args("--coadd", stat));
      expect(r.code).toBe(0);
      let coadded = 0;
      for (const target of expected.targets) {
        for (const [label, key] of Object.entries(BANDS)) {
          const want = target.bands[key]?.margin;
          if (want === undefined) continue;
          const img = stamp(label, target.id);
          expect(img.header.get("VOCOADD")).toBe(stat);
          const inputs = want.coaddInputs ?? [want.image];
          expect(img.header.get("VOINPUTS")).toBe(inputs.length);
          inputs.forEach((name, i) => {
            expect(img.header.get(`VOIMG${i + 1}`)).toBe(name);
          });
          if (want[stat] === undefined) {
            expect(values(img)).toEqual(want.stamp);
            continue;
          }
          coadded++;
          // Float32 output of values near 100-300: a few 1e-5 relative.
          expectClose(values(img), want[stat] as Array<number | null>, 2e-3);
        }
      }
      expect(coadded).toBe(2);
    });
  }

  it("--no-partial records a stamp that runs off every image as no_coverage", async () => {
    const r = await runCli(args("--no-partial"));
    expect(r.code).toBe(0);
    const states = taskStates();
    expect(states.get("J/edge_a")?.state).toBe("no_coverage");
    expect(states.get("J/edge_a")?.message).toContain("holds the whole 16x12 stamp (--no-partial)");
    expect(states.get("J/only_a")?.state).toBe("done");
    expect(values(stamp("J", "only_a")).every((v) => v !== null)).toBe(true);
  });

  it("indexes footprints across RA = 0 as two boxes and around a pole as RA 0..360", async () => {
    expect((await runCli(args())).code).toBe(0);
    const boxes = ledgerRows<{ path: string; minRa: number; maxRa: number; minDec: number; maxDec: number }>(
      `SELECT i.path AS path, b.min_ra AS minRa, b.max_ra AS maxRa, b.min_dec AS minDec, b.max_dec AS maxDec
         FROM image_box b JOIN image i ON i.id = b.image_id ORDER BY i.path, b.min_ra`,
    );
    const wrap = boxes.filter((b) => b.path === "wrap.fits");
    expect(wrap).toHaveLength(2);
    expect(wrap[0]?.minRa).toBe(0);
    expect(wrap[0]?.maxRa).toBeGreaterThan(0.0083);
    expect(wrap[1]?.minRa).toBeLessThan(359.9962);
    expect(wrap[1]?.maxRa).toBe(360);
    const pole = boxes.filter((b) => b.path === "pole.fits");
    expect(pole).toEqual([expect.objectContaining({ minRa: 0, maxRa: 360, maxDec: 90 })]);
    expect(boxes.filter((b) => b.path === "deep/c.fits")).toHaveLength(2);
    expect(stamp("J", "wrap_west").header.get("VOIMG1")).toBe("wrap.fits[0]");
    expect(stamp("H", "pole").header.get("VOIMG1")).toBe("pole.fits[0]");
  });

  it("re-indexes only new or changed files, drops removed ones, and a resume asks nothing again", async () => {
    const first = await runCli(args());
    expect(first.code).toBe(0);
    const reads = (): Record<string, number> =>
      Object.fromEntries(
        ledgerRows<{ path: string; reads: number }>("SELECT path, reads FROM image_file").map((r) => [
          r.path,
          r.reads,
        ]),
      );
    expect(reads()).toEqual({
      "a.fits": 1,
      "b.fits": 1,
      "deep/c.fits": 1,
      "h.fits": 1,
      "notes/junk.fits": 1,
      "pole.fits": 1,
      "wrap.fits": 1,
    });
    const files = listFiles(out).filter((f) => f.endsWith(".fits"));
    const mtimes = files.map((f) => statSync(join(out, f)).mtimeMs);

    // Nothing changed: no file is read, no task runs.
    const attempts = (): number[] =>
      ledgerRows<{ attempts: number }>("SELECT attempts FROM task").map((r) => r.attempts);
    const again = await runCli(args());
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("0 read (new or changed), 0 removed");
    expect(again.stderr).toContain(
      "planned 18 task(s) for 9 target(s) x 2 band(s) (9 already in the ledger)",
    );
    expect(new Set(attempts())).toEqual(new Set([1]));
    expect(reads()["a.fits"]).toBe(1);
    expect(files.map((f) => statSync(join(out, f)).mtimeMs)).toEqual(mtimes);

    // Touch one, add one, remove one: exactly those are read again or dropped.
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(survey, "b.fits"), later, later);
    cpSync(join(survey, "h.fits"), join(survey, "deep", "h2.fits"));
    rmSync(join(survey, "wrap.fits"));
    const third = await runCli(args());
    expect(third.code).toBe(0);
    expect(third.stderr).toContain("2 read (new or changed), 1 removed");
    expect(reads()).toEqual({
      "a.fits": 1,
      "b.fits": 2,
      "deep/c.fits": 1,
      "deep/h2.fits": 1,
      "h.fits": 1,
      "notes/junk.fits": 1,
      "pole.fits": 1,
    });
    expect(ledgerRows("SELECT * FROM image WHERE path = 'wrap.fits'")).toEqual([]);
    expect(
      ledgerRows("SELECT * FROM image_box b JOIN image i ON i.id = b.image_id WHERE i.path = 'wrap.fits'"),
    ).toEqual([]);
    // Finished tasks stay finished (their files untouched): the job is the same, only its index changed.
    expect(new Set(attempts())).toEqual(new Set([1]));
    expect(files.map((f) => statSync(join(out, f)).mtimeMs)).toEqual(mtimes);
  });

  it("refuses to resume with other product-defining options", async () => {
    expect((await runCli(args())).code).toBe(0);
    const r = await runCli(args("--coadd", "median"));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("coadd");
  });

  it("plan --dry-run names the image each task will cut from", async () => {
    const r = await runCli([
      "plan",
      CATALOG,
      "--images",
      survey,
      "--bands",
      "J,H",
      "--size",
      "16x12",
      "--out",
      out,
      "--dry-run",
    ]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toContainEqual(
      expect.stringMatching(new RegExp(`^J\\ta_b\\t${survey}/b\\.fits\\[0\\]\\t`)),
    );
    expect(lines).toContainEqual(expect.stringMatching(/^H\tnowhere\t\(no image\)\t/));
    expect(listFiles(t.dir).filter((f) => f.startsWith("out"))).toEqual([]);
  });

  it("without --bands, one band named image takes every image", async () => {
    const r = await runCli(["run", CATALOG, "--images", survey, "--size", "8", "--out", out]);
    expect(r.code).toBe(0);
    const states = taskStates(["image"]);
    expect(states.size).toBe(9);
    expect(states.get("image/nowhere")?.state).toBe("no_coverage");
    // The pole target lies only on the H image: with no band split it is found.
    expect(stamp("image", "pole").header.get("VOIMG1")).toBe("pole.fits[0]");
  });
});

describe("vocut run --images over a UKIDSS-like file (ZPN, four detectors, empty primary)", () => {
  it("finds the detector holding each position, as the wcs fixtures' astropy reference says", async () => {
    const wcsFix = resolve(import.meta.dirname, "../../fixtures/wcs");
    const ref = JSON.parse(readFileSync(join(wcsFix, "mef.json"), "utf8")) as {
      positions: Array<{ ra: number; dec: number; hduIndex: number | null }>;
    };
    cpSync(join(wcsFix, "mef.fits"), join(survey, "..", "zpn", "mef.fits"));
    const cat = join(t.dir, "zpn.csv");
    writeFileSync(cat, `id,ra,dec\n${ref.positions.map((p, i) => `p${i},${p.ra},${p.dec}`).join("\n")}\n`);
    const r = await runCli(["run", cat, "--images", join(t.dir, "zpn"), "--size", "8", "--out", out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("4 image HDU(s)");
    const states = taskStates(["image"]);
    ref.positions.forEach((p, i) => {
      const st = states.get(`image/p${i}`);
      if (p.hduIndex === null) expect(st?.state, `p${i}`).toBe("no_coverage");
      else expect(stamp("image", `p${i}`).header.get("VOIMG1"), `p${i}`).toBe(`mef.fits[${p.hduIndex}]`);
    });
  });
});
