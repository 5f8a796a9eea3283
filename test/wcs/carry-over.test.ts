import { describe, expect, it } from "vitest";
import { type Card, encodeHeader, parseHeader } from "../../src/fits/header.js";
import { headerCarryOver } from "../../src/wcs/cutout.js";

function header(cards: Card[]) {
  return parseHeader(encodeHeader(cards), 0).header;
}

describe("headerCarryOver: the cards of an image's header that still hold for a stamp cut from it", () => {
  it("keeps calibration and observation keywords in order; drops structure, scaling, checksums, WCS, compression, commentary and duplicates", () => {
    const h = header([
      { key: "XTENSION", value: "BINTABLE" },
      { key: "BITPIX", value: 8 },
      { key: "NAXIS", value: 2 },
      { key: "NAXIS1", value: 8 },
      { key: "NAXIS2", value: 100 },
      { key: "PCOUNT", value: 512 },
      { key: "GCOUNT", value: 1 },
      { key: "TFIELDS", value: 1 },
      { key: "TTYPE1", value: "COMPRESSED_DATA" },
      { key: "TFORM1", value: "1PB(60)" },
      { key: "ZIMAGE", value: true },
      { key: "ZBITPIX", value: 16 },
      { key: "ZNAXIS1", value: 100 },
      { key: "ZTILE1", value: 100 },
      { key: "ZCMPTYPE", value: "RICE_1" },
      { key: "ZNAME1", value: "BLOCKSIZE" },
      { key: "ZVAL1", value: 32 },
      { key: "EXTNAME", value: "COMPRESSED_IMAGE" },
      { key: "MAGZPT", value: 25.1, comment: "photometric zero point" },
      { key: "BSCALE", value: 0.5 },
      { key: "BZERO", value: 32768 },
      { key: "BLANK", value: -32768 },
      { key: "CHECKSUM", value: "ABCD" },
      { key: "DATAMIN", value: 1 },
      { key: "CTYPE1", value: "RA---ZPN" },
      { key: "CRPIX1", value: 10 },
      { key: "CD1_1", value: 1e-4 },
      { key: "PV2_3", value: 44 },
      { key: "CTYPE1A", value: "RA---TAN" },
      { key: "CTYPE3", value: "FREQ" },
      { key: "MJD-OBS", value: 54321.5 },
      { key: "EXPTIME", value: 10 },
      { key: "HISTORY", value: "processed" },
      { key: "COMMENT", value: "a comment" },
      { key: "FILTER", value: "J" },
      { key: "EXPTIME", value: 99 },
      { key: "ORIGIN", value: "CASU" },
      { key: "BUNIT", value: "ADU" },
    ]);
    expect(headerCarryOver(h).map((c) => [c.key, c.value])).toEqual([
      ["MAGZPT", 25.1],
      ["EXPTIME", 10],
      ["FILTER", "J"],
      ["ORIGIN", "CASU"],
      ["BUNIT", "ADU"],
    ]);
    // Keys the caller writes itself are left to it.
    expect(headerCarryOver(h, new Set(["ORIGIN", "FILTER"])).map((c) => c.key)).toEqual([
      "MAGZPT",
      "EXPTIME",
      "BUNIT",
    ]);
  });

  it("leaves out a card it could not write back unchanged (a long string continued over CONTINUE cards)", () => {
    const long = "x".repeat(150);
    const text = [
      "SIMPLE  =                    T",
      "BITPIX  =                  -32",
      "NAXIS   =                    0",
      `LONGSTRN= '${long.slice(0, 67)}&'`,
      `CONTINUE  '${long.slice(67, 134)}&'`,
      `CONTINUE  '${long.slice(134)}'`,
      "GAIN    =                  4.2",
      "END",
    ]
      .map((l) => l.padEnd(80, " "))
      .join("")
      .padEnd(2880, " ");
    const h = parseHeader(Buffer.from(text, "latin1"), 0).header;
    expect(h.get("LONGSTRN")).toBe(long);
    expect(headerCarryOver(h).map((c) => c.key)).toEqual(["GAIN"]);
  });
});
