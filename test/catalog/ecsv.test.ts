import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readCatalog } from "../../src/catalog/read-catalog.js";
import type { CatalogEvent, Target } from "../../src/catalog/types.js";
import { archiveRig } from "../helpers/archive-rig.js";
import { runCli } from "../helpers/cli.js";

// Written by astropy (fixtures/ecsv/make_ecsv.py): Table.write(format="ascii.ecsv").
const FIX = join(import.meta.dirname, "../../fixtures/ecsv");
const FITS = readFileSync(join(import.meta.dirname, "../../fixtures/fits/astropy/bitpix16.fits"));

async function all(events: AsyncIterable<CatalogEvent>): Promise<CatalogEvent[]> {
  const out: CatalogEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

/** Each test's temp folder and archive server (closed after it). */
const rig = archiveRig();

describe("ECSV catalogs (astropy's Table.write)", () => {
  it("reads 50 targets with the ids, RA and Dec astropy wrote (quoted ids with spaces, a masked value, quotes in a string)", async () => {
    const c = await readCatalog(join(FIX, "targets.ecsv"));
    expect(c.format).toBe("ecsv");
    expect([c.columns.ra.name, c.columns.dec.name, c.columns.id?.name]).toEqual(["ra", "dec", "id"]);
    const targets = (await all(c.events)).map((e) => (e.kind === "target" ? e.target : e.bad));
    expect(targets).toHaveLength(50);
    // The same table as astropy writes it in CSV, read by the CSV reader.
    const ref = await readCatalog(join(FIX, "targets-reference.csv"));
    const want = (await all(ref.events)).map((e) => e.kind === "target" && e.target) as Target[];
    expect(want).toHaveLength(50);
    expect(targets).toEqual(want);
    expect((targets[1] as Target).id).toBe("HD 1001");
  });

  it("a malformed row is reported with its line number and skipped; a bad RA likewise; the rest are read", async () => {
    const c = await readCatalog(join(FIX, "targets-bad.ecsv"));
    const ev = await all(c.events);
    const bad = ev.flatMap((e) => (e.kind === "bad" ? [e.bad] : []));
    expect(ev.filter((e) => e.kind === "target")).toHaveLength(48);
    expect(bad).toHaveLength(2);
    expect(bad[0]).toMatchObject({ line: 20, row: 8, reason: "ragged" });
    expect(bad[0]?.message).toMatch(/3 fields but the header has 5/);
    expect(bad[1]).toMatchObject({ line: 32, row: 20 });
    expect(bad[1]?.message).toMatch(/not-a-number/);

    const r = await runCli([
      "plan",
      join(FIX, "targets-bad.ecsv"),
      "--dry-run",
      "--hips2fits",
      "CDS/P/SDSS9/g",
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n")).toHaveLength(48);
    expect(r.stderr).toMatch(/catalog line 20 \(row 8\): row has 3 fields but the header has 5; skipped/);
  }, 30_000);

  it("refuses an ECSV whose YAML header is broken or whose header row does not match it (exit 3)", async () => {
    const text = readFileSync(join(FIX, "targets.ecsv"), "utf8");
    const broken = join(rig.dir, "broken.ecsv");
    writeFileSync(
      broken,
      text.replace("# - {name: ra, unit: deg, datatype: float64}", "# - {name: ra, unit: deg"),
    );
    const r = await runCli(["plan", broken, "--dry-run", "--hips2fits", "CDS/P/SDSS9/g"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/ECSV header is not valid YAML/);
    const renamed = join(rig.dir, "renamed.ecsv");
    writeFileSync(renamed, text.replace("\nid ra dec mag note\n", "\nid ra de mag note\n"));
    const r2 = await runCli(["plan", renamed, "--dry-run", "--hips2fits", "CDS/P/SDSS9/g"]);
    expect(r2.code).toBe(3);
    expect(r2.stderr).toMatch(/header row \(id ra de mag note\) does not match the ECSV columns/);
  }, 30_000);
});

describe("ECSV product lists", () => {
  it("downloads an astropy-written product list, names files by obs_id, and --dry-run counts it", async () => {
    const archive = await rig.start({
      products: [],
      files: new Map(["1", "2", "3", "4"].map((i) => [`/files/${i}.fits`, FITS])),
    });
    const list = join(rig.dir, "products.ecsv");
    writeFileSync(
      list,
      readFileSync(join(FIX, "products.ecsv"), "utf8").replaceAll("http://127.0.0.1:9", archive.base),
    );
    const dry = await runCli(["obscore", list, "--dry-run", "--json", "--rate", "4"]);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({
      rows: 4,
      products: 4,
      estKb: 45_100,
      seconds: 1,
      groups: [
        { collection: "HARPS", type: "cube", rows: 1, products: 1, estKb: 40_000 },
        { collection: "HARPS", type: "spectrum", rows: 2, products: 2, estKb: 2000 },
        { collection: "UVES", type: "spectrum", rows: 1, products: 1, estKb: 3100 },
      ],
    });
    const out = join(rig.dir, "out");
    const r = await runCli(["obscore", list, "--out", out, "--rate", "200", "--quiet"]);
    expect(r.code).toBe(0);
    for (const d of ["01", "02", "03", "04"]) {
      expect(readFileSync(join(out, `HARPS.2020-01-${d}.fits`)).equals(FITS)).toBe(true);
    }
  }, 30_000);

  it("a FITS binary table is a product list too (astropy-written): downloaded and named by obs_id", async () => {
    const archive = await rig.start({
      products: [],
      files: new Map(["1", "2", "3", "4"].map((i) => [`/files/${i}.fits`, FITS])),
    });
    const port = new URL(archive.base).port;
    expect(port).toMatch(/^\d{5}$/); // the fixture's placeholder is five digits wide
    const bytes = readFileSync(join(FIX, "products.fits"));
    const holder = Buffer.from("127.0.0.1:00000/");
    let n = 0;
    for (let at = bytes.indexOf(holder); at >= 0; at = bytes.indexOf(holder, at + 1), n++) {
      bytes.write(`127.0.0.1:${port}/`, at, "latin1");
    }
    expect(n).toBe(4);
    const list = join(rig.dir, "products.fits");
    writeFileSync(list, bytes);
    const dry = await runCli(["obscore", list, "--dry-run", "--json"]);
    expect(JSON.parse(dry.stdout)).toMatchObject({ rows: 4, products: 4, estKb: 45_100 });
    const out = join(rig.dir, "out");
    const r = await runCli(["obscore", list, "--out", out, "--rate", "200", "--quiet"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    for (const d of ["01", "02", "03", "04"]) {
      expect(readFileSync(join(out, `HARPS.2020-01-${d}.fits`)).equals(FITS)).toBe(true);
    }
  }, 30_000);
});
