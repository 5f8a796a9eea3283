import { readdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { encodeHeader } from "../../src/fits/header.js";
import { encodeImage } from "../../src/fits/image.js";
import { validateFits } from "../../src/fits/validate.js";
import { ASTROPY_DIR, fixture, OURS_DIR } from "./fixtures.js";

const stamp = encodeImage({ bitpix: -32, shape: [28, 28], data: new Float32Array(28 * 28).fill(1) });
const fail = (buf: Buffer) => {
  const v = validateFits(buf);
  if (v.ok) throw new Error("expected a failure");
  return v;
};

describe("validateFits accepts real FITS", () => {
  const files = [
    ...readdirSync(ASTROPY_DIR)
      .filter((f) => f.endsWith(".fits"))
      .map((f) => [`astropy/${f}`, fixture(ASTROPY_DIR, f)] as const),
    ...readdirSync(OURS_DIR)
      .filter((f) => f.endsWith(".fits"))
      .map((f) => [`ours/${f}`, fixture(OURS_DIR, f)] as const),
  ];
  it.each(files)("%s", (_name, buf) => {
    const v = validateFits(buf);
    expect(v).toMatchObject({ ok: true, bytes: buf.length });
  });

  it("counts HDUs (primary, IMAGE, TABLE, BINTABLE)", () => {
    expect(validateFits(fixture(ASTROPY_DIR, "mef.fits"))).toEqual({ ok: true, hdus: 5, bytes: 25920 });
    expect(validateFits(stamp)).toEqual({ ok: true, hdus: 1, bytes: 3 * 2880 });
  });
});

describe("validateFits rejects what must never be saved as .fits", () => {
  it("an HTML page served with 200, naming its title", () => {
    const html =
      "\n<!DOCTYPE html>\n<html><head><title>503 Service &amp; Maintenance</title></head><body>x</body></html>";
    expect(fail(Buffer.from(html))).toEqual({
      ok: false,
      code: "HTML",
      message: "body is an HTML page, not FITS: 503 Service & Maintenance",
    });
    expect(fail(Buffer.from("<HTML><BODY>Forbidden</BODY></HTML>")).code).toBe("HTML");
    expect(
      fail(Buffer.from('<?xml version="1.0"?>\n<!DOCTYPE html><html><title>t</title></html>')).code,
    ).toBe("HTML");
  });

  it("a JSON error body (hips2fits {title, description})", () => {
    const body = JSON.stringify({ title: "Bad request", description: "fov must be positive" });
    expect(fail(Buffer.from(body))).toEqual({
      ok: false,
      code: "JSON",
      message: "body is JSON, not FITS: Bad request: fov must be positive",
    });
    expect(fail(Buffer.from("[1, 2")).message).toBe("body is JSON, not FITS");
  });

  it("XML and VOTable errors, with the QUERY_STATUS text", () => {
    const vot =
      '<?xml version="1.0"?><VOTABLE version="1.4"><RESOURCE type="results">' +
      '<INFO name="QUERY_STATUS" value="ERROR">POS is out of range</INFO></RESOURCE></VOTABLE>';
    expect(fail(Buffer.from(vot))).toEqual({
      ok: false,
      code: "XML",
      message: "body is a VOTable, not FITS: POS is out of range",
    });
    expect(fail(Buffer.from("<VOTABLE/>")).code).toBe("XML");
    expect(fail(Buffer.from('<?xml version="1.0"?><error>no</error>')).message).toBe(
      "body is an XML document, not FITS",
    );
  });

  it("an empty body and a gzip-compressed file", () => {
    expect(fail(Buffer.alloc(0))).toMatchObject({
      code: "EMPTY",
      message: "body is empty (0 bytes), not FITS",
    });
    expect(fail(gzipSync(stamp)).code).toBe("GZIP");
  });

  it("plain text and binary junk", () => {
    expect(fail(Buffer.from("UsageError: bad ID")).code).toBe("NOT_FITS");
    expect(fail(Buffer.from("UsageError: bad ID")).message).toContain("UsageError");
    expect(fail(Buffer.from([0, 1, 2, 3])).code).toBe("NOT_FITS");
  });

  it("SIMPLE = F", () => {
    const buf = Buffer.from(stamp);
    buf.write("F", 29, "latin1");
    expect(fail(buf).code).toBe("NOT_FITS");
  });

  it("a file truncated anywhere (except exactly at an HDU boundary, which leaves a valid shorter file)", () => {
    const mef = fixture(ASTROPY_DIR, "mef.fits");
    const boundaries = new Set([2880, 8640, 14400, 20160]); // where mef.fits's HDUs start
    for (const buf of [stamp, mef]) {
      for (let cut = 1; cut < buf.length; cut += cut < 6000 ? 71 : 997) {
        const v = validateFits(buf.subarray(0, cut));
        expect(v.ok, `cut at ${cut}`).toBe(false);
      }
      for (const cut of [80, 2879, 2880, 2881, 5759, 5760, buf.length - 2880, buf.length - 1]) {
        const v = validateFits(buf.subarray(0, cut));
        expect(v.ok, `cut at ${cut}`).toBe(buf === mef && boundaries.has(cut));
      }
    }
    // Cut inside the data of the first HDU: says how much is missing.
    expect(fail(stamp.subarray(0, 2880 + 100))).toMatchObject({ code: "TRUNCATED" });
    expect(fail(stamp.subarray(0, 2880 + 100)).message).toMatch(/needs 3136 data bytes/);
    // Cut inside a header.
    expect(fail(stamp.subarray(0, 1000)).code).toBe("TRUNCATED");
  });

  it("a length that is not a multiple of 2880 (missing padding, or extra bytes)", () => {
    expect(fail(stamp.subarray(0, 2880 + 28 * 28 * 4))).toMatchObject({ code: "BAD_LENGTH" });
    expect(fail(Buffer.concat([stamp, Buffer.from("\n")])).code).toBe("TRAILING_GARBAGE");
  });

  it("a header without END", () => {
    const header = Buffer.from(
      ["SIMPLE  =                    T", "BITPIX  =                    8", "NAXIS   =                    0"]
        .map((l) => l.padEnd(80))
        .join("")
        .padEnd(2880),
      "latin1",
    );
    expect(fail(header)).toMatchObject({ code: "NO_END" });
  });

  it("data shorter than NAXIS * BITPIX says", () => {
    // The header promises 100 x 100 float32 (40000 bytes) but only one data block follows.
    const header = encodeHeader([
      { key: "SIMPLE", value: true },
      { key: "BITPIX", value: -32 },
      { key: "NAXIS", value: 2 },
      { key: "NAXIS1", value: 100 },
      { key: "NAXIS2", value: 100 },
    ]);
    expect(fail(Buffer.concat([header, Buffer.alloc(2880)]))).toMatchObject({ code: "TRUNCATED" });
    // The same for a binary-table extension with a heap (PCOUNT) that is not there.
    const mef = fixture(ASTROPY_DIR, "table.fits");
    expect(fail(mef.subarray(0, mef.length - 2880)).code).toBe("TRUNCATED");
  });

  it("garbage after the last HDU, and a broken extension header", () => {
    expect(fail(Buffer.concat([stamp, Buffer.alloc(2880)])).code).toBe("TRAILING_GARBAGE");
    const ext = encodeImage({ bitpix: 8, shape: [2], data: [1, 2], extension: true });
    expect(validateFits(Buffer.concat([stamp, ext]))).toMatchObject({ ok: true, hdus: 2 });
    const badExt = Buffer.from(ext);
    badExt.write("'WEIRD   '", 10, "latin1");
    expect(fail(Buffer.concat([stamp, badExt])).code).toBe("BAD_HEADER");
    const badBitpix = Buffer.from(stamp);
    badBitpix.write("  12", 80 + 26, "latin1");
    expect(fail(badBitpix)).toMatchObject({ code: "BAD_HEADER" });
  });

  it("non-ASCII bytes in a header", () => {
    const buf = Buffer.from(stamp);
    buf[200] = 0xe9;
    expect(fail(buf).code).toBe("BAD_CARD");
  });

  it("does not copy data: a 64 MB body validates from its header alone", () => {
    const big = Buffer.alloc(2880 + Math.ceil((4096 * 4096 * 4) / 2880) * 2880);
    encodeHeader([
      { key: "SIMPLE", value: true },
      { key: "BITPIX", value: -32 },
      { key: "NAXIS", value: 2 },
      { key: "NAXIS1", value: 4096 },
      { key: "NAXIS2", value: 4096 },
    ]).copy(big);
    expect(validateFits(big)).toEqual({ ok: true, hdus: 1, bytes: big.length });
  });
});
