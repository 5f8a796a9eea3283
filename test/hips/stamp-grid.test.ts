import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { readImage } from "../../src/fits/image.js";
import { planStamp } from "../../src/sources/hips/resample.js";
import { type StampGrid, tanPixelToWorld } from "../../src/wcs/tan-header.js";
import { runCli, tempDir } from "../helpers/cli.js";
import { CutoutServer } from "../helpers/cutout-server.js";

const FIX = resolve(import.meta.dirname, "../../fixtures");
/** astropy.wcs pixel -> world for both grids (fixtures/wcs/make_grid_reference.py). */
const ref = JSON.parse(readFileSync(join(FIX, "wcs/grid-reference.json"), "utf8")) as {
  stamps: Array<{
    ra: number;
    dec: number;
    width: number;
    height: number;
    pixscaleArcsec: number;
    grid: StampGrid;
    crpix: [number, number];
    pixels: Array<[number, number, number, number]>;
  }>;
};

const tiles = { order: 12, tileWidth: 64, frame: "equatorial" } as const;

describe("stamp grid conventions against astropy.wcs (issue 14, part 5)", () => {
  for (const s of ref.stamps) {
    it(`${s.grid} ${s.width}x${s.height} at (${s.ra}, ${s.dec}): CRPIX and every pixel's position as astropy's`, () => {
      const geometry = { widthPx: s.width, heightPx: s.height, pixscaleArcsec: s.pixscaleArcsec };
      const plan = planStamp(s.ra, s.dec, geometry, tiles, "nearest", { convention: s.grid });
      const card = (k: string) => plan.wcs.find((c) => c.key === k)?.value;
      expect([card("CRPIX1"), card("CRPIX2")]).toEqual(s.crpix);
      expect(card("VCGRID")).toBe(s.grid);
      for (const [x, y, ra, dec] of s.pixels) {
        const w = tanPixelToWorld(plan.wcs, x, y);
        expect(Math.abs(w.raDeg - ra) * Math.cos((dec * Math.PI) / 180)).toBeLessThan(1e-10);
        expect(Math.abs(w.decDeg - dec)).toBeLessThan(1e-10);
      }
    });
  }

  it("the default grid is hips2fits's: the target on the centre of pixel (W/2, H/2)", () => {
    const plan = planStamp(150.1, 2.2, { widthPx: 32, heightPx: 20, pixscaleArcsec: 0.8 }, tiles, "nearest");
    const w = tanPixelToWorld(plan.wcs, 16, 10);
    expect(w.raDeg).toBeCloseTo(150.1, 12);
    expect(w.decDeg).toBeCloseTo(2.2, 12);
  });

  it("--hips and --hips2fits stamps of the same target share CRPIX, CRVAL and CDELT; --grid is a job parameter", async () => {
    const tmp = tempDir();
    const h2f = await new CutoutServer().start();
    try {
      const cat = join(tmp.dir, "cat.csv");
      const { writeFileSync } = await import("node:fs");
      writeFileSync(cat, "id,ra,dec\nSRC000,150.11085137,2.23045563\n");
      const common = ["--size", "32x24", "--pixscale", "0.8", "--rate", "1000", "--quiet"];
      const hipsOut = join(tmp.dir, "hips");
      const hips = ["run", cat, "--out", hipsOut, "--hips", `g=${join(FIX, "hips/sample-g")}`, ...common];
      expect((await runCli(hips)).code).toBe(0);
      const h2fOut = join(tmp.dir, "h2f");
      const r = await runCli([
        "run",
        cat,
        "--out",
        h2fOut,
        "--hips2fits",
        "g=x/g",
        "--hips2fits-url",
        h2f.url,
        ...common,
      ]);
      expect(r.code).toBe(0);
      const a = readImage(readFileSync(join(hipsOut, "g/SRC000.fits"))).header;
      const b = readImage(readFileSync(join(h2fOut, "g/SRC000.fits"))).header;
      for (const k of ["CRPIX1", "CRPIX2", "CRVAL1", "CRVAL2", "CDELT1", "CDELT2"])
        expect(a.getNumber(k)).toBe(b.getNumber(k));
      expect(a.getNumber("CRPIX1")).toBe(16);
      expect(a.getNumber("CRPIX2")).toBe(12);
      expect(a.get("VCGRID")).toBe("hips2fits");
      // The grid is part of the job: resuming with the other one is refused (exit 2) and changes nothing.
      const other = await runCli([...hips, "--grid", "centred"]);
      expect(other.code).toBe(2);
      const again = readImage(readFileSync(join(hipsOut, "g/SRC000.fits"))).header;
      expect(again.getNumber("CRPIX1")).toBe(16);
      // centred in a new job; refused with a source whose grid is the service's.
      const centredOut = join(tmp.dir, "centred");
      expect(
        (await runCli([...hips.slice(0, 3), centredOut, ...hips.slice(4), "--grid", "centred"])).code,
      ).toBe(0);
      const c = readImage(readFileSync(join(centredOut, "g/SRC000.fits"))).header;
      expect([c.getNumber("CRPIX1"), c.getNumber("CRPIX2"), c.get("VCGRID")]).toEqual([
        16.5,
        12.5,
        "centred",
      ]);
      const refused = await runCli(["plan", cat, "--dry-run", "--hips2fits", "x/g", "--grid", "centred"]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/--grid centred applies to --hips only/);
      const bad = await runCli([
        "plan",
        cat,
        "--dry-run",
        "--hips",
        join(FIX, "hips/sample-g"),
        "--grid",
        "middle",
      ]);
      expect(bad.code).toBe(2);
    } finally {
      await h2f.stop();
      tmp.cleanup();
    }
  });
});
