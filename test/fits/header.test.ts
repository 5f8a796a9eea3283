import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FitsError } from "../../src/fits/errors.js";
import {
  type Card,
  type CardValue,
  encodeHeader,
  FitsHeader,
  formatCard,
  formatFloat,
  parseHeader,
} from "../../src/fits/header.js";
import { AWKWARD_CARDS } from "./fixtures.js";

const roundTrip = (cards: Card[]): readonly Card[] => parseHeader(encodeHeader(cards), 0).header.cards;
const roundTripValue = (value: CardValue): CardValue | undefined =>
  roundTrip([{ key: "X", value }])[0]?.value;

describe("formatCard", () => {
  it("writes fixed-format values: logicals and numbers end in column 30, strings start in column 11", () => {
    expect(formatCard({ key: "SIMPLE", value: true })).toBe(`SIMPLE  = ${"T".padStart(20)}${" ".repeat(50)}`);
    expect(formatCard({ key: "NAXIS1", value: 28, comment: "width" })).toBe(
      `NAXIS1  = ${"28".padStart(20)} / width`.padEnd(80),
    );
    expect(formatCard({ key: "CTYPE1", value: "RA---TAN" })).toBe("CTYPE1  = 'RA---TAN'".padEnd(80));
    expect(formatCard({ key: "CUNIT1", value: "deg" })).toBe("CUNIT1  = 'deg     '".padEnd(80));
    expect(formatCard({ key: "O", value: "it's" })).toBe("O       = 'it''s   '".padEnd(80));
    expect(formatCard({ key: "HISTORY", value: "made by vocut" })).toBe("HISTORY made by vocut".padEnd(80));
    expect(formatCard({ key: "COMMENT", comment: "note" })).toBe("COMMENT note".padEnd(80));
    expect(formatCard({ key: "U", value: null, comment: "undefined" })).toBe(
      `U       = ${" ".repeat(20)} / undefined`.padEnd(80),
    );
    for (const c of AWKWARD_CARDS) expect(formatCard(c)).toHaveLength(80);
  });

  it("formats a card object once and reuses its text; new objects and bad cards are formatted each time", () => {
    const crval: Card = { key: "CRVAL1", value: 150.5, comment: "[deg]" };
    const a = encodeHeader([crval, { key: "BAND", value: "g" }]);
    const b = encodeHeader([crval, { key: "BAND", value: "r" }]);
    expect(a.subarray(0, 80).toString("latin1")).toBe(`CRVAL1  = ${"150.5".padStart(20)} / [deg]`.padEnd(80));
    expect(b.subarray(0, 80).equals(a.subarray(0, 80))).toBe(true);
    expect(b.subarray(80, 160).toString("latin1")).toBe(`BAND    = 'r       '`.padEnd(80));
    expect(formatCard(crval)).toBe(a.subarray(0, 80).toString("latin1"));
    const bad: Card = { key: "lower", value: 1 };
    expect(() => encodeHeader([bad])).toThrow(TypeError);
    expect(() => encodeHeader([bad])).toThrow(TypeError);
    // The header is whole blocks: the cards, END, then spaces.
    expect(a.length).toBe(2880);
    expect(a.subarray(160, 240).toString("latin1")).toBe("END".padEnd(80));
    expect(a.subarray(240).every((c) => c === 0x20)).toBe(true);
  });

  it("writes reals with '.' or 'E' in the shortest form that parses back exactly", () => {
    expect(formatFloat(0.1)).toBe("0.1");
    expect(formatFloat(-0)).toBe("-0.0");
    expect(formatFloat(1e-300)).toBe("1.0E-300");
    expect(formatFloat(1e21)).toBe("1.0E+21");
    expect(formatFloat(123456789012345680000)).toBe("1.2345678901234568E+20");
    expect(formatFloat(2.5e-5)).toBe("2.5E-05");
    expect(formatFloat(0.00025)).toBe("0.00025");
    expect(formatFloat(5e-324)).toBe("5.0E-324");
    // Either side of the two switches between plain and E notation (the fast path's bounds).
    const below = (x: number) => {
      const b = new DataView(new ArrayBuffer(8));
      b.setFloat64(0, x);
      b.setBigUint64(0, b.getBigUint64(0) - 1n); // the next double towards zero (x > 0)
      return b.getFloat64(0);
    };
    expect(formatFloat(1e-4)).toBe("0.0001");
    expect(formatFloat(below(1e-4))).toBe("9.999999999999999E-05");
    expect(formatFloat(-1e-4)).toBe("-0.0001");
    expect(formatFloat(1e16)).toBe("1.0E+16");
    expect(formatFloat(below(1e16))).toBe("9999999999999998.0");
    expect(formatFloat(-1e16)).toBe("-1.0E+16");
    expect(formatCard({ key: "CDELT1", value: -0.396 / 3600 })).toBe(
      `CDELT1  = ${"-0.00011".padStart(20)}`.padEnd(80),
    );
    expect(formatCard({ key: "CRPIX1", value: 14.5 })).toBe(`CRPIX1  = ${"14.5".padStart(20)}`.padEnd(80));
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
        const s = formatFloat(x);
        expect(/[.E]/.test(s)).toBe(true);
        expect(Object.is(Number.parseFloat(s), x)).toBe(true);
        expect(
          Object.is(
            roundTripValue(x),
            Number.isSafeInteger(x) && !Object.is(x, -0) ? x : Number.parseFloat(s),
          ),
        ).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("rejects bad keys and non-ASCII or over-long values with a TypeError naming the key", () => {
    expect(() => formatCard({ key: "TOOLONGKEY", value: 1 })).toThrow(/TOOLONGKEY/);
    expect(() => formatCard({ key: "lower", value: 1 })).toThrow(TypeError);
    expect(() => formatCard({ key: "OBJECT", value: "Ångström" })).toThrow(/OBJECT.*ASCII/);
    expect(() => formatCard({ key: "URL", value: "x".repeat(69) })).toThrow(/URL.*too long/);
    expect(() => formatCard({ key: "QUOTES", value: "'".repeat(35) })).toThrow(/QUOTES/);
    expect(() => formatCard({ key: "NAN", value: Number.NaN })).toThrow(/NAN/);
    expect(() => formatCard({ key: "INF", value: Number.POSITIVE_INFINITY })).toThrow(/INF/);
    expect(() => formatCard({ key: "HISTORY", value: "h".repeat(73) })).toThrow(/HISTORY/);
    expect(() => formatCard({ key: "C", value: 1, comment: "tab\there" })).toThrow(/C: comment/);
    expect(() => formatCard({ key: "BIG", value: 10n ** 21n })).toThrow(/BIG/);
    // The longest string that fits: 68 characters between the quotes.
    expect(roundTripValue("y".repeat(68))).toBe("y".repeat(68));
  });

  it("cuts an over-long comment instead of failing", () => {
    const line = formatCard({ key: "A", value: 1, comment: "c".repeat(100) });
    expect(line).toHaveLength(80);
    expect(line.endsWith("c")).toBe(true);
  });
});

describe("parseHeader / encodeHeader round trips", () => {
  it("keeps awkward values exactly", () => {
    const back = roundTrip(AWKWARD_CARDS);
    expect(back).toEqual(AWKWARD_CARDS);
    expect(Object.is(back.find((c) => c.key === "NEGZERO")?.value, -0)).toBe(true);
  });

  it.each<[string, CardValue]>([
    ["0.1", 0.1],
    ["1e-300", 1e-300],
    ["-0.0", -0],
    ["2^53 + 1 as bigint", 2n ** 53n + 1n],
    ["-(2^63)", -(2n ** 63n)],
    ["2^63 (unsigned BZERO)", 2n ** 63n],
    ["max safe integer", Number.MAX_SAFE_INTEGER],
    ["quotes", "it's ''quoted''"],
    ["only quotes", "'"],
    ["leading blanks", "   x"],
    ["empty string", ""],
    ["true", true],
    ["false", false],
    ["null", null],
  ])("%s", (_name, value) => {
    expect(Object.is(roundTripValue(value), value) || roundTripValue(value) === value).toBe(true);
  });

  it("turns integers beyond 2^53 into bigint, keeps smaller ones as number", () => {
    const build = (line: string) =>
      Buffer.from(`${line.padEnd(80)}${"END".padEnd(80)}`.padEnd(2880), "latin1");
    expect(parseHeader(build("N       =     9007199254740992"), 0).header.get("N")).toBe(9007199254740992n);
    expect(parseHeader(build("N       =     9007199254740991"), 0).header.get("N")).toBe(9007199254740991);
    expect(parseHeader(build("N       =    -9007199254740993"), 0).header.get("N")).toBe(-9007199254740993n);
    expect(parseHeader(build("D       =              1.5D+03 / Fortran"), 0).header.cards[0]).toEqual({
      key: "D",
      value: 1500,
      comment: "Fortran",
    });
    expect(parseHeader(build("Z       = (1.0, 2.0)"), 0).header.get("Z")).toBe("(1.0, 2.0)");
  });

  it("joins long strings written with the CONTINUE convention and reads HIERARCH keys", () => {
    const lines = [
      "URL     = 'https://alasky.cds.unistra.fr/hips-image-services/hips2fits?hips=&'",
      "CONTINUE  'CDS%2FP%2FSDSS9%2Fg&ra=150.1'   / source",
      "HIERARCH ESO DET CHIP = 'CCD-44' / chip",
      "END",
    ];
    const buf = Buffer.from(
      lines
        .map((l) => l.padEnd(80))
        .join("")
        .padEnd(2880),
      "latin1",
    );
    const { header } = parseHeader(buf, 0);
    expect(header.getString("URL")).toBe(
      "https://alasky.cds.unistra.fr/hips-image-services/hips2fits?hips=CDS%2FP%2FSDSS9%2Fg&ra=150.1",
    );
    expect(header.get("HIERARCH ESO DET CHIP")).toBe("CCD-44");
  });

  it("pads to 2880 and reports where the data starts", () => {
    const cards: Card[] = Array.from({ length: 36 }, (_, i) => ({ key: `K${i}`, value: i }));
    const buf = encodeHeader(cards);
    expect(buf.length).toBe(5760); // 36 cards + END need a second block
    expect(parseHeader(buf, 0).dataOffset).toBe(5760);
    expect(encodeHeader(cards.slice(0, 35)).length).toBe(2880);
    expect(encodeHeader([{ key: "END" }, { key: "A", value: 1 }]).toString("latin1", 0, 88)).toMatch(
      /^A {7}= .* END/,
    );
  });

  it("FitsHeader getters return typed values, undefined when absent, and throw BAD_HEADER on a wrong type", () => {
    const h = new FitsHeader([
      { key: "N", value: 3 },
      { key: "S", value: "txt" },
      { key: "B", value: true },
      { key: "BIG", value: 2n ** 60n },
      { key: "N", value: 4 },
    ]);
    expect([h.getNumber("N"), h.getString("S"), h.getBoolean("B"), h.getNumber("BIG")]).toEqual([
      3,
      "txt",
      true,
      2 ** 60,
    ]);
    expect([h.has("N"), h.has("X"), h.get("X"), h.getNumber("X")]).toEqual([
      true,
      false,
      undefined,
      undefined,
    ]);
    expect(() => h.getNumber("S")).toThrowError(expect.objectContaining({ code: "BAD_HEADER" }));
    expect(() => h.getString("N")).toThrow(FitsError);
    expect(() => h.getBoolean("N")).toThrow(FitsError);
  });

  it("throws FitsError with stable codes on broken headers", () => {
    const good = encodeHeader([{ key: "SIMPLE", value: true }]);
    const code = (buf: Buffer) => {
      try {
        parseHeader(buf, 0);
        return "ok";
      } catch (e) {
        return e instanceof FitsError ? e.code : "other";
      }
    };
    expect(code(good)).toBe("ok");
    expect(code(good.subarray(0, 1000))).toBe("TRUNCATED"); // END seen, but the block is incomplete
    expect(code(good.subarray(0, 40))).toBe("TRUNCATED");
    expect(code(Buffer.alloc(0))).toBe("TRUNCATED");
    expect(code(Buffer.from(" ".repeat(2880)))).toBe("NO_END");
    const bad = Buffer.from(good);
    bad[5] = 0xc3;
    expect(code(bad)).toBe("BAD_CARD");
    expect(code(Buffer.from("S       = 'open string".padEnd(80) + "END".padEnd(2800)))).toBe("BAD_CARD");
  });
});
