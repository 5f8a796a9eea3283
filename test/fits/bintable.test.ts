import { describe, expect, it } from "vitest";
import { decodeCell, parseBinTableLayout, readBinTable } from "../../src/fits/bintable.js";
import { listHdus } from "../../src/fits/image.js";
import { ASTROPY_DIR, fixture, type Json, norm, readJson } from "./fixtures.js";

interface TableExpectation {
  hdu: number;
  header: Record<string, Json>;
  columns: Array<{ name: string; tform: string; unit?: string; tscal?: Json; tzero?: Json; tnull?: Json }>;
  rows: Json[][];
  ucds?: string[];
}
const expected = readJson<{ tables: Record<string, TableExpectation> }>(`${ASTROPY_DIR}/expected.json`);

describe("binary tables astropy wrote", () => {
  it.each(Object.entries(expected.tables))("%s: layout and every row", (key, want) => {
    const buf = fixture(ASTROPY_DIR, key.split("#")[0] ?? key);
    const table = readBinTable(buf, want.hdu);
    expect(table.rowBytes).toBe(want.header.NAXIS1);
    expect(table.nRows).toBe(want.header.NAXIS2);
    expect(
      table.columns.map((c) => {
        const out: Record<string, unknown> = { name: c.name, tform: c.tform };
        if (c.unit !== undefined) out.unit = c.unit;
        if (c.tscal !== undefined) out.tscal = norm(c.tscal);
        if (c.tzero !== undefined) out.tzero = norm(c.tzero);
        if (c.tnull !== undefined) out.tnull = norm(c.tnull);
        return out;
      }),
    ).toEqual(
      want.columns.map((c) => ({ ...c, ...(c.tzero === undefined ? {} : { tzero: norm(c.tzero) }) })),
    );
    if (want.ucds !== undefined) expect(table.columns.map((c) => c.ucd)).toEqual(want.ucds);
    const rows = [...table.rows()].map((r) => r.map(norm));
    expect(rows).toEqual(want.rows.map((r) => r.map(norm)));
  });

  it("decodes rows chunk by chunk from row bytes alone (as a streaming reader would)", () => {
    const buf = fixture(ASTROPY_DIR, "table.fits");
    const hdu = listHdus(buf)[2];
    if (hdu === undefined) throw new Error("no catalog HDU");
    const layout = parseBinTableLayout(hdu.header);
    const want = expected.tables["table.fits#2"];
    const ra = layout.columns.find((c) => c.name === "ra");
    const objid = layout.columns.find((c) => c.name === "objid");
    if (ra === undefined || objid === undefined || want === undefined) throw new Error("missing column");
    expect(ra.unit).toBe("deg");
    expect(objid.type).toBe("K");
    for (let r = 0; r < layout.nRows; r++) {
      // Copy the row out of the file, as a chunked read would hand it over.
      const start = hdu.dataOffset + r * layout.rowBytes;
      const row = Buffer.from(buf.subarray(start, start + layout.rowBytes));
      expect(norm(decodeCell(row, objid))).toEqual(want.rows[r]?.[0]);
      expect(decodeCell(row, ra)).toBe(want.rows[r]?.[1]);
    }
  });

  it("rejects a TFORM sum that disagrees with NAXIS1 and needs the heap for P columns", () => {
    const buf = fixture(ASTROPY_DIR, "table.fits");
    const hdu = listHdus(buf)[1];
    if (hdu === undefined) throw new Error("no table");
    const layout = parseBinTableLayout(hdu.header);
    const vla = layout.columns.find((c) => c.type === "P");
    if (vla === undefined) throw new Error("no P column");
    expect(vla.arrayType).toBe("J");
    const row = buf.subarray(hdu.dataOffset, hdu.dataOffset + layout.rowBytes);
    expect(() => decodeCell(row, vla)).toThrowError(expect.objectContaining({ code: "BAD_HEADER" }));
    expect(() => decodeCell(row.subarray(0, 3), vla)).toThrowError(
      expect.objectContaining({ code: "TRUNCATED" }),
    );
    expect(() => readBinTable(fixture(ASTROPY_DIR, "bitpix8.fits"))).toThrowError(
      expect.objectContaining({ code: "NO_SUCH_HDU" }),
    );
  });
});
