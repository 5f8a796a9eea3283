import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { chooseColumns } from "../../src/catalog/columns.js";
import { detectFormat, readCatalog } from "../../src/catalog/read-catalog.js";
import { VocutError } from "../../src/errors.js";
import { fixture, readAll } from "./helpers.js";

/** The shared objects of make_votables.py (OBJECTS). */
const OBJECTS = [
  { id: "M31", raDeg: 10.6847083, decDeg: 41.26875, row: 1 },
  { id: "NGC 1, core", raDeg: 1.8181, decDeg: 27.7083, row: 2 },
  { id: "J1000-0030", raDeg: 150, decDeg: -0.5, row: 3 },
  { id: "SPole", raDeg: 0, decDeg: -90, row: 4 },
  { id: "Edge", raDeg: 359.99999, decDeg: 89.9999, row: 5 },
];

describe("every format gives the same targets", () => {
  it.each([
    ["decimal.csv", "csv"],
    ["decimal.tsv", "tsv"],
    ["crlf-bom.csv", "csv"],
    ["tabledata.vot", "votable"],
    ["binary.vot", "votable"],
    ["binary2.vot", "votable"],
    ["catalog.fits", "fits"],
  ])("%s", async (name, format) => {
    expect(await detectFormat(fixture(name))).toBe(format);
    const { targets, bad } = await readAll(fixture(name));
    expect(bad).toEqual([]);
    expect(targets).toEqual(OBJECTS);
  });
});

describe("column detection", () => {
  it("reports which columns were chosen and how", async () => {
    const cat = await readCatalog(fixture("binary.vot"), {});
    expect(cat.format).toBe("votable");
    expect(cat.columns.ra).toMatchObject({ name: "RA_ICRS", index: 1, by: "ucd" });
    expect(cat.columns.dec).toMatchObject({ name: "DE_ICRS", index: 2, by: "ucd" });
    expect(cat.columns.id).toMatchObject({ name: "objid", index: 0, by: "ucd" });
    for await (const _ of cat.events) break; // closes the file
  });
  it.each([
    [["RA", "DEC"], "RA", "DEC"],
    [["ra_deg", "dec_deg"], "ra_deg", "dec_deg"],
    [["RAJ2000", "DECJ2000"], "RAJ2000", "DECJ2000"],
    [["RAJ2000", "DEJ2000"], "RAJ2000", "DEJ2000"],
    [["RA_ICRS", "DE_ICRS"], "RA_ICRS", "DE_ICRS"],
    [["RAdeg", "DEdeg"], "RAdeg", "DEdeg"],
    [["alpha", "delta"], "alpha", "delta"],
    [["_RAJ2000", "_DEJ2000"], "_RAJ2000", "_DEJ2000"],
    [["RA (deg)", "Dec (deg)"], "RA (deg)", "Dec (deg)"],
    [["mag", "raj2000", "ra", "dej2000", "dec"], "ra", "dec"],
  ])("%j", (names, ra, dec) => {
    const c = chooseColumns(
      names.map((name) => ({ name })),
      {},
    );
    expect([c.ra.name, c.dec.name]).toEqual([ra, dec]);
  });
  it("prefers UCD meta.main (UCD1+ and UCD1), then names, then a lone pos.eq.ra", () => {
    const c = chooseColumns(
      [
        { name: "ra" },
        { name: "dec" },
        { name: "x", ucd: "POS_EQ_RA_MAIN" },
        { name: "y", ucd: "pos.eq.dec; meta.main" },
      ],
      {},
    );
    expect([c.ra.name, c.dec.name]).toEqual(["x", "y"]);
    const d = chooseColumns(
      [
        { name: "a", ucd: "pos.eq.ra" },
        { name: "b", ucd: "pos.eq.dec" },
      ],
      {},
    );
    expect([d.ra.name, d.dec.name]).toEqual(["a", "b"]);
  });
  it("finds id columns by name and UCD", () => {
    for (const name of ["id", "objID", "obj_id", "Name", "source_id", "designation"]) {
      expect(chooseColumns([{ name: "ra" }, { name: "dec" }, { name }], {}).id?.name).toBe(name);
    }
    expect(
      chooseColumns([{ name: "ra" }, { name: "dec" }, { name: "q", ucd: "meta.id;meta.main" }], {}).id?.name,
    ).toBe("q");
    expect(chooseColumns([{ name: "ra" }, { name: "dec" }], {}).id).toBeUndefined();
  });
  it("lets options win (exact, VOTable ID, then case-insensitive)", async () => {
    const { targets, columns } = await readAll(fixture("decimal.csv"), {
      raCol: "DEC",
      decCol: "ra",
      idCol: "mag",
    });
    expect(columns.ra).toMatchObject({ name: "dec", by: "option" });
    expect(targets[0]).toEqual({ id: "12.5", raDeg: 41.26875, decDeg: 10.6847083, row: 1 });
    const v = await readAll(fixture("tabledata.vot"), { idCol: "col_name" });
    expect(v.columns.id?.name).toBe("Name");
  });
  it("uses the row number as id when there is no id column", async () => {
    const { targets, columns } = await readAll(fixture("sexagesimal-colon.csv"), {});
    expect(columns.id?.name).toBe("designation");
    expect(targets[0]?.id).toBe("M31");
    const bare = await readAll(fixture("no-id.csv"));
    expect(bare.columns.id).toBeUndefined();
    expect(bare.targets.map((t) => [t.id, t.row])).toEqual([
      ["1", 1],
      ["2", 2],
    ]);
  });
  it("throws a file error listing the columns and suggesting --ra-col/--dec-col", async () => {
    const err = await readCatalog(fixture("no-radec.csv"), {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VocutError);
    expect((err as VocutError).code).toBe("CATALOG_NO_RADEC");
    expect((err as VocutError).exitCode).toBe(3);
    expect((err as VocutError).message).toContain('"name", "x", "y"');
    expect((err as VocutError).message).toContain("--ra-col");
    expect((err as VocutError).message).toContain("--dec-col");
  });
  it("hints at space-separated files", async () => {
    await expect(readCatalog(fixture("spaces.txt"), {})).rejects.toThrow(/space-separated/);
  });
  it("rejects an unknown --ra-col", async () => {
    await expect(readCatalog(fixture("decimal.csv"), { raCol: "RA_X" })).rejects.toMatchObject({
      code: "CATALOG_COLUMN_UNKNOWN",
      message: expect.stringContaining(
        '--ra-col "RA_X": no such column; the catalog has "id", "ra", "dec", "mag"',
      ),
    });
  });
});

describe("bad rows", () => {
  it("are reported with row, line and reason", async () => {
    const { targets, bad } = await readAll(fixture("bad-rows.csv"));
    expect(targets.map((t) => [t.row, t.id])).toEqual([
      [1, "ok1"],
      [9, "multi\nline"],
      [10, "ok2"],
    ]);
    expect(bad.map((b) => [b.row, b.line, b.reason])).toEqual([
      [2, 4, "ragged"],
      [3, 5, "nan"],
      [4, 6, "ra_range"],
      [5, 7, "dec_range"],
      [6, 8, "missing"],
      [7, 9, "parse"],
      [8, 10, "missing"],
      [11, 16, "nan"],
      [12, 17, "ra_range"],
      [13, 18, "parse"],
      [14, 19, "ra_range"],
    ]);
    expect(bad[0]?.message).toBe("row has 2 fields but the header has 3");
    expect(bad[4]?.message).toBe('RA "" in column ra: empty');
    expect(bad[5]?.message).toBe('RA "abc" in column ra: not a number or sexagesimal angle');
    expect(bad[6]?.message).toBe("empty id in column id");
  });
  it("invalid UTF-8 in a used column is a bad row", async () => {
    const { targets, bad } = await readAll(fixture("bad-utf8.csv"));
    expect(targets.map((t) => t.id)).toEqual(["ok", "ok2"]);
    expect(bad).toEqual([expect.objectContaining({ row: 2, line: 3, reason: "encoding" })]);
  });
  it("an unclosed quote is a bad row, not a crash", async () => {
    const { targets, bad } = await readAll(fixture("unclosed-quote.csv"));
    expect(targets.map((t) => t.id)).toEqual(["ok"]);
    expect(bad).toEqual([expect.objectContaining({ row: 2, line: 3, reason: "parse" })]);
  });
  it("VOTable TABLEDATA rows carry line numbers; nulls are missing", async () => {
    const { targets, bad } = await readAll(fixture("vizier-sexagesimal.vot"));
    expect(targets.map((t) => [t.id, t.row])).toEqual([
      ["1", 1],
      ["2", 2],
    ]);
    expect(targets[0]?.raDeg).toBeCloseTo(10.684708333333331, 9);
    expect(bad.map((b) => [b.row, b.line, b.reason])).toEqual([
      [3, 11, "missing"],
      [4, 12, "parse"],
      [5, 13, "missing"],
    ]);
    const t = await readAll(fixture("tabledata.vot"));
    expect(t.targets.length).toBe(5);
  });
  it("BINARY2 null flags give missing values", async () => {
    const { targets, bad } = await readAll(fixture("alltypes-binary2.vot"));
    expect(targets.map((t) => t.id)).toEqual(["a", "b"]);
    expect(bad).toEqual([
      { row: 3, reason: "missing", message: "RA null in column ra: no value" },
      { row: 4, reason: "missing", message: "empty id in column id" },
    ]);
  });
});

describe("sexagesimal catalogs match astropy", () => {
  const astropy = JSON.parse(readFileSync(fixture("sexagesimal.json"), "utf8")) as {
    ra: Record<string, number>;
    dec: Record<string, number>;
  };
  it.each(["sexagesimal-colon.csv", "sexagesimal-space.csv"])("%s", async (name) => {
    const lines = readFileSync(fixture(name), "utf8")
      .split("\n")
      .filter((l) => l !== "" && !l.startsWith("#"))
      .slice(1)
      .map((l) => l.split(","));
    const { targets, bad } = await readAll(fixture(name));
    expect(bad).toEqual([]);
    expect(targets.length).toBe(lines.length);
    for (const [i, t] of targets.entries()) {
      const [, ra = "", dec = ""] = lines[i] ?? [];
      expect(Math.abs(t.raDeg - (astropy.ra[ra] as number))).toBeLessThan(1e-9);
      expect(Math.abs(t.decDeg - (astropy.dec[dec] as number))).toBeLessThan(1e-9);
    }
  });
});

describe("file-level errors", () => {
  const code = async (name: string, options = {}) =>
    readAll(fixture(name), options).then(
      () => "no error",
      (e: unknown) => (e instanceof VocutError ? `${e.code} ${e.exitCode}` : String(e)),
    );
  it("missing file, empty file", async () => {
    expect(await code("nope.csv")).toBe("CATALOG_NOT_FOUND 3");
    expect(await code("empty.csv")).toBe("CATALOG_EMPTY 3");
  });
  it("entity bomb is refused, not expanded", async () => {
    // Refused at the entity declaration: an expanding parser would run out of memory or time instead of
    // throwing this error (speed itself is a benchmark's business, not a test's).
    await expect(readCatalog(fixture("entity-bomb.vot"), {})).rejects.toThrow(/entit/i);
  });
  it("QUERY_STATUS=ERROR carries the service message", async () => {
    await expect(readCatalog(fixture("query-error.vot"), {})).rejects.toMatchObject({
      code: "CATALOG_VOTABLE",
      message: expect.stringContaining('Table "foo" does not exist'),
    });
  });
  it("a truncated VOTable throws after its complete rows", async () => {
    const cat = await readCatalog(fixture("truncated.vot"), {});
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const e of cat.events) if (e.kind === "target") seen.push(e.target.id);
      })(),
    ).rejects.toMatchObject({ code: "CATALOG_VOTABLE" });
    expect(seen.length).toBeGreaterThan(0);
  });
  it("a forced wrong format fails cleanly", async () => {
    expect(await code("decimal.csv", { format: "fits" })).toBe("CATALOG_FITS 3");
    expect(await code("decimal.csv", { format: "votable" })).toBe("CATALOG_VOTABLE 3");
  });
});
