import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PRESETS } from "../../src/presets/presets.js";
import { runCli, tempDir } from "../helpers/cli.js";

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.cleanup());

function writeCatalog(): string {
  const path = join(tmp.dir, "quasars.csv");
  writeFileSync(path, "id,ra,dec\nq1,150.25,2.5\nq2,180,-1.125\n");
  return path;
}

/** The lines of a dry run: band, id, URL, output path. */
const rows = (stdout: string) =>
  stdout
    .trim()
    .split("\n")
    .map((l) => l.split("\t"));

describe("vocut plan --dry-run --preset (built CLI, no network)", () => {
  it('sdss prints one hips2fits request per object and band: CDS/P/SDSS9/*, 28 px, fov 28 x 0.396"', async () => {
    const out = join(tmp.dir, "out");
    const r = await runCli(["plan", writeCatalog(), "--dry-run", "--preset", "sdss", "--out", out]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = rows(r.stdout);
    expect(lines.map(([band, id]) => `${band}/${id}`)).toEqual(
      ["q1", "q2"].flatMap((id) => ["u", "g", "r", "i", "z"].map((b) => `${b}/${id}`)),
    );
    const [band, id, url, file] = lines[1] as string[];
    expect([band, id, file]).toEqual(["g", "q1", "g/q1.fits"]);
    const u = new URL(url as string);
    expect(`${u.origin}${u.pathname}`).toBe("https://alasky.cds.unistra.fr/hips-image-services/hips2fits");
    expect(Object.fromEntries(u.searchParams)).toEqual({
      hips: "CDS/P/SDSS9/g",
      width: "28",
      height: "28",
      projection: "TAN",
      fov: String((28 * 0.396) / 3600),
      ra: "150.25",
      dec: "2.5",
      coordsys: "icrs",
      rotation_angle: "0",
      format: "fits",
    });
    expect(existsSync(out)).toBe(false);
  });

  it("--preset sdss --size 64 --pixscale 0.2 keeps the SDSS HiPS with the given geometry", async () => {
    const r = await runCli([
      "plan",
      writeCatalog(),
      "--dry-run",
      "--preset",
      "sdss",
      "--size",
      "64",
      "--pixscale",
      "0.2",
    ]);
    expect(r.code).toBe(0);
    const u = new URL((rows(r.stdout)[0] as string[])[2] as string);
    expect(u.searchParams.get("hips")).toBe("CDS/P/SDSS9/u");
    expect(u.searchParams.get("width")).toBe("64");
    expect(u.searchParams.get("fov")).toBe(String((64 * 0.2) / 3600));
  });

  it("legacy prints Legacy Survey viewer fits-cutout URLs for g, r, z", async () => {
    const r = await runCli(["plan", writeCatalog(), "--dry-run", "--preset", "legacy", "--json"]);
    expect(r.code).toBe(0);
    const events = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { band: string; id: string; url: string; out: string });
    expect(events).toHaveLength(6);
    expect(events[5]).toEqual({
      row: 2,
      id: "q2",
      band: "z",
      url: "https://www.legacysurvey.org/viewer/fits-cutout?ra=180&dec=-1.125&layer=ls-dr10&pixscale=0.262&size=64&bands=z",
      out: "z/q2.fits",
    });
  });

  it("an unknown preset exits 2 with the list of names", async () => {
    const r = await runCli(["plan", writeCatalog(), "--dry-run", "--preset", "dss2"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain('--preset "dss2": unknown preset');
    for (const p of PRESETS) expect(r.stderr).toContain(p.name);
  });

  it("ukidss exits 2: no confirmed SIA endpoint", async () => {
    const r = await runCli(["run", writeCatalog(), "--out", join(tmp.dir, "o"), "--preset", "ukidss"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/preset ukidss has no service URL/);
    expect(existsSync(join(tmp.dir, "o"))).toBe(false);
  });
});

describe("vocut presets", () => {
  it("lists every preset on one line: name, kind, bands, pixel scale, size, what it is", async () => {
    const r = await runCli(["presets"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines.map((l) => l.split(/\s+/)[0])).toEqual(PRESETS.map((p) => p.name));
    const sdss = lines[0]?.split(/\s{2,}/);
    expect(sdss?.slice(0, 5)).toEqual(["sdss", "hips2fits", "u,g,r,i,z", '0.396"/px', "28px"]);
    expect(lines.find((l) => l.startsWith("legacy"))).toMatch(/template\s+g,r,z\s+0\.262"\/px/);
    expect(lines.find((l) => l.startsWith("ukidss"))).toMatch(/unavailable.*--sia/);
  });

  it("--json gives every preset with its documentation link", async () => {
    const r = await runCli(["presets", "--json"]);
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    expect(list.map((p) => p.name)).toEqual(PRESETS.map((p) => p.name));
    for (const p of list) expect(p.docs).toMatch(/^https?:\/\//);
    expect(list[0]).toMatchObject({
      name: "sdss",
      kind: "hips2fits",
      bands: ["u", "g", "r", "i", "z"],
      sizePx: 28,
      pixscaleArcsec: 0.396,
      hips: [
        { label: "u", hips: "CDS/P/SDSS9/u" },
        { label: "g", hips: "CDS/P/SDSS9/g" },
        { label: "r", hips: "CDS/P/SDSS9/r" },
        { label: "i", hips: "CDS/P/SDSS9/i" },
        { label: "z", hips: "CDS/P/SDSS9/z" },
      ],
    });
  });
});
