import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { VotableBinaryDecoder } from "../../src/votable/binary.js";
import { parseVotable, VotableError, type VotableRow } from "../../src/votable/votable.js";
import { fixture } from "./helpers.js";

type Json = null | boolean | number | string | { big: string } | Json[];

/** astropy's JSON conventions (alltypes.json) -> our values. */
function fromJson(v: Json): unknown {
  if (Array.isArray(v)) return v.map(fromJson);
  if (v === "NaN") return Number.NaN;
  if (v !== null && typeof v === "object") return BigInt(v.big);
  return v;
}

async function rowsOf(input: Parameters<typeof parseVotable>[0], options = {}) {
  const t = await parseVotable(input, options);
  const rows: VotableRow[] = [];
  for await (const r of t.rows) rows.push(r);
  return { table: t, rows };
}

/** Split bytes into small pieces to exercise chunk boundaries (tags, base64 quads, rows). */
function* pieces(buf: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

describe("parseVotable", () => {
  const expected = (JSON.parse(readFileSync(fixture("alltypes.json"), "utf8")) as Record<string, Json>[]).map(
    (r) => Object.values(r).map(fromJson),
  );
  // astropy hands a masked char field back as ""; the null flag says null, which is what we return.
  (expected[3] as unknown[])[0] = null;

  it("decodes every datatype of BINARY2 (with nulls) as astropy does", async () => {
    const { table, rows } = await rowsOf(readFileSync(fixture("alltypes-binary2.vot")));
    expect(table.serialization).toBe("BINARY2");
    expect(table.name).toBe("alltypes");
    expect(table.fields.map((f) => f.name)).toEqual([
      "id",
      "ra",
      "dec",
      "f",
      "b",
      "ub",
      "s",
      "i",
      "l",
      "c8",
      "u",
      "d2",
      "iv",
    ]);
    expect(table.fields[7]?.nullValue).toBe("-999");
    expect(rows.map((r) => r.values)).toEqual(expected);
    expect(rows.map((r) => r.row)).toEqual([1, 2, 3, 4]);
  });

  it.each(["alltypes-binary.vot", "alltypes-tabledata.vot"])(
    "%s gives the same values (no nulls)",
    async (name) => {
      const { rows } = await rowsOf(readFileSync(fixture(name)));
      const binary2 = await rowsOf(readFileSync(fixture("alltypes-binary2.vot")));
      expect(rows.length).toBe(4);
      // Rows 1-2 have no nulls in the BINARY2 file; rows 3-4 differ only where BINARY2 has nulls.
      expect(rows.slice(0, 2).map((r) => r.values)).toEqual(binary2.rows.slice(0, 2).map((r) => r.values));
      expect(rows[2]?.values[1]).toBe(30);
      expect(rows[3]?.values[0]).toBe("d");
    },
  );

  it.each([1, 3, 7, 64])("survives %i-byte chunks", async (size) => {
    for (const name of ["alltypes-binary2.vot", "alltypes-tabledata.vot", "vizier-sexagesimal.vot"]) {
      const whole = await rowsOf(readFileSync(fixture(name)));
      const split = await rowsOf(pieces(readFileSync(fixture(name)), size));
      expect(split.rows).toEqual(whole.rows);
    }
  });

  it("reads TABLEDATA line numbers and only the first TABLE", async () => {
    const { table, rows } = await rowsOf(readFileSync(fixture("tabledata.vot"), "utf8"));
    expect(table.infos).toEqual([{ name: "QUERY_STATUS", value: "OK", content: "" }]);
    expect(rows.map((r) => r.line)).toEqual([12, 13, 14, 17, 18]);
    expect(rows.length).toBe(5);
  });

  it("refuses entity declarations, QUERY_STATUS=ERROR, a missing TABLE and oversize text", async () => {
    const code = (p: Promise<unknown>) =>
      p.then(
        () => "none",
        (e: unknown) => (e as VotableError).code,
      );
    expect(await code(rowsOf(readFileSync(fixture("entity-bomb.vot"))))).toBe("DOCTYPE");
    expect(await code(rowsOf(readFileSync(fixture("query-error.vot"))))).toBe("QUERY_STATUS");
    expect(await code(rowsOf("<VOTABLE><RESOURCE/></VOTABLE>"))).toBe("NO_TABLE");
    expect(await code(rowsOf("<VOTABLE><RESOURCE><TABLE"))).toBe("XML");
    const long = `<VOTABLE><RESOURCE><TABLE><FIELD name="a" datatype="char" arraysize="*"/><DATA><TABLEDATA><TR><TD>${"x".repeat(5000)}</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>`;
    const err = await parseVotable(long, { maxTextChars: 1000 })
      .then(
        async (t) => {
          for await (const _ of t.rows);
        },
        (e: unknown) => e,
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VotableError);
    expect((err as VotableError).code).toBe("TEXT_TOO_LARGE");
  });

  it("streams a large BINARY2 table without handing the STREAM text to the XML parser", async () => {
    // 200k rows of (double, double); the base64 text is ~4.3 MB, more than maxTextChars.
    const n = 200_000;
    const bin = Buffer.alloc(n * 17);
    for (let i = 0; i < n; i++) {
      bin[i * 17] = 0;
      bin.writeDoubleBE(i / 1000, i * 17 + 1);
      bin.writeDoubleBE(-i / 1e4, i * 17 + 9);
    }
    const xml = `<?xml version="1.0"?><VOTABLE><RESOURCE><TABLE><FIELD name="ra" datatype="double"/><FIELD name="dec" datatype="double"/><DATA><BINARY2><STREAM encoding="base64">${bin.toString("base64").replace(/.{76}/g, "$&\n")}</STREAM></BINARY2></DATA></TABLE></RESOURCE></VOTABLE>`;
    const t = await parseVotable(pieces(Buffer.from(xml), 65536), { maxTextChars: 100_000 });
    let count = 0;
    let last: VotableRow | undefined;
    for await (const r of t.rows) {
      count++;
      last = r;
    }
    expect(count).toBe(n);
    expect(last?.values).toEqual([(n - 1) / 1000, -(n - 1) / 1e4]);
  });
});

describe("VotableBinaryDecoder", () => {
  it("rejects bad base64 and rows cut off", () => {
    const rows: unknown[] = [];
    const d = new VotableBinaryDecoder([{ name: "i", datatype: "int" }], {
      binary2: false,
      onRow: (v) => rows.push(v),
    });
    d.push(Buffer.from([0, 0, 0, 5, 0, 0]));
    expect(rows).toEqual([[5]]);
    expect(() => d.end()).toThrow(/inside row 2/);
    const e = new VotableBinaryDecoder([{ name: "i", datatype: "int" }], { binary2: false, onRow: () => {} });
    expect(() => e.pushBase64("AA*A")).toThrow(/not base64/);
  });
  it("decodes bit arrays, variable char strings and VALUES null", () => {
    const rows: unknown[] = [];
    const d = new VotableBinaryDecoder(
      [
        { name: "bits", datatype: "bit", arraysize: "10" },
        { name: "s", datatype: "char", arraysize: "*" },
        { name: "n", datatype: "short", nullValue: "-1" },
      ],
      { binary2: false, onRow: (v) => rows.push(v) },
    );
    d.push(Buffer.from([0b10100000, 0b01000000, 0, 0, 0, 2, 0x68, 0x69, 0xff, 0xff]));
    d.end();
    expect(rows).toEqual([[[true, false, true, false, false, false, false, false, false, true], "hi", null]]);
  });
});
