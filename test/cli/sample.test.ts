import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { readImage } from "../../src/fits/image.js";
import { listFiles, tempDir } from "../helpers/cli.js";

const SAMPLE = resolve(import.meta.dirname, "../../examples/offline-sample.mjs");

describe("the README's sample job (examples/offline-sample.mjs)", () => {
  it("cuts 40 sources x 3 bands offline, every isolated source centred on CRPIX to 0.1 px", async () => {
    const tmp = tempDir();
    try {
      const out = join(tmp.dir, "sample-out");
      const code = await new Promise<number | null>((r) => {
        const child = spawn(process.execPath, [SAMPLE, out], { stdio: "ignore" });
        child.on("close", r);
      });
      expect(code).toBe(0);
      const files = listFiles(out).filter((f) => f.endsWith(".fits"));
      expect(files).toHaveLength(120);
      // Catalog rows: id, ra, dec, x_pix, y_pix (the source's pixel position in the original image).
      const rows = readFileSync(resolve(import.meta.dirname, "../../fixtures/sample/catalog.csv"), "utf8")
        .split("\n")
        .filter((l) => l.startsWith("SRC"))
        .map((l) => l.split(","))
        .map(([id, , , x, y]) => ({ id: id as string, x: Number(x), y: Number(y) }));
      let checked = 0;
      for (const src of rows) {
        // Only sources with no neighbour within 10 original pixels: a blend moves the light centroid.
        const nearest = Math.min(
          ...rows.filter((o) => o !== src).map((o) => Math.hypot(o.x - src.x, o.y - src.y)),
        );
        if (nearest < 10) continue;
        for (const band of ["g", "r", "i"]) {
          const img = readImage(readFileSync(join(out, band, `${src.id}.fits`)));
          // The default grid is hips2fits's: CRPIX = 32/2, the source on the centre of pixel 16.
          expect(img.header.getNumber("CRPIX1")).toBe(16);
          expect(img.header.getNumber("CRPIX2")).toBe(16);
          const c = 16;
          // Background-subtracted light centroid in the central 9x9 pixels (FITS 1-based coordinates).
          let sx = 0;
          let sy = 0;
          let sw = 0;
          for (let y = c - 4; y <= c + 4; y++) {
            for (let x = c - 4; x <= c + 4; x++) {
              const v = (img.data[(y - 1) * img.width + (x - 1)] ?? 0) - 10;
              if (v > 0) {
                sx += v * x;
                sy += v * y;
                sw += v;
              }
            }
          }
          // The source sits on CRPIX: its light centres there. 0.1 px allows for the image noise (sigma 1
          // on faint sources); an off-by-one, a flipped axis or the other grid would be >= 0.5 px.
          expect(Math.abs(sx / sw - c)).toBeLessThan(0.1);
          expect(Math.abs(sy / sw - c)).toBeLessThan(0.1);
          checked++;
        }
      }
      expect(checked).toBeGreaterThanOrEqual(60);
    } finally {
      tmp.cleanup();
    }
  });
});

describe("the README's first command (npm run sample: client-side cutouts from the bundled HiPS)", () => {
  it("runs the exact CLI arguments of package.json's sample script and centres the sources", async () => {
    const root = resolve(import.meta.dirname, "../..");
    const script = (
      JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: Record<string, string> }
    ).scripts.sample as string;
    const m = /node dist\/cli\/index\.js (run .*?) &&/.exec(script);
    expect(m).not.toBeNull();
    const tmp = tempDir();
    try {
      const args = (m?.[1] ?? "")
        .split(" ")
        .map((a) => (a === "sample-out" ? join(tmp.dir, "sample-out") : a));
      const code = await new Promise<number | null>((r) => {
        const child = spawn(process.execPath, [join(root, "dist/cli/index.js"), ...args, "--quiet"], {
          cwd: root,
          stdio: "ignore",
        });
        child.on("close", r);
      });
      expect(code).toBe(0);
      const files = listFiles(join(tmp.dir, "sample-out")).filter((f) => f.endsWith(".fits"));
      expect(files).toHaveLength(120);
      // SRC000 is bright and isolated: its light centres on the stamp centre in every band.
      for (const band of ["g", "r", "i"]) {
        const img = readImage(readFileSync(join(tmp.dir, "sample-out", band, "SRC000.fits")));
        let sx = 0;
        let sy = 0;
        let sw = 0;
        img.data.forEach((v, i) => {
          const w = v - 10;
          if (w > 20) {
            sx += w * ((i % img.width) + 1);
            sy += w * (Math.floor(i / img.width) + 1);
            sw += w;
          }
        });
        // On CRPIX (16, 16): the hips2fits grid, the default, stated in the header.
        expect(img.header.getNumber("CRPIX1")).toBe(16);
        expect(img.header.get("VCGRID")).toBe("hips2fits");
        expect(Math.abs(sx / sw - 16)).toBeLessThan(0.1);
        expect(Math.abs(sy / sw - 16)).toBeLessThan(0.1);
      }
    } finally {
      tmp.cleanup();
    }
  });
});
