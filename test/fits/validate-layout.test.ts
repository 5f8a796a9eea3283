import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { validateFits } from "../../src/fits/validate.js";
import { validateFitsLayout } from "../../src/fits/validate-layout.js";
import { checkStoredProduct, VALIDATION_WINDOW } from "../../src/output/product-formats.js";

const DIRS = ["../../fixtures/fits/astropy", "../../fixtures/products"].map((d) =>
  join(import.meta.dirname, d),
);
const FILES = DIRS.flatMap((d) =>
  readdirSync(d)
    .filter((f) => f.endsWith(".fits"))
    .map((f) => ({ name: f, bytes: readFileSync(join(d, f)) })),
);

const reader = (b: Buffer) => async (offset: number, length: number) =>
  b.subarray(offset, Math.min(b.length, offset + length));

/** Broken variants of a FITS file: each must get the same verdict as validateFits gives it. */
function variants(b: Buffer): Array<[string, Buffer]> {
  const garbled = Buffer.from(b);
  garbled.write("NAXIS1  =                99999", 80 * 3, "latin1");
  return [
    ["whole", b],
    ["cut in the data", b.subarray(0, b.length - 2880)],
    ["cut mid-block", b.subarray(0, b.length - 100)],
    ["trailing block", Buffer.concat([b, Buffer.alloc(2880, 0x20)])],
    ["NAXIS1 rewritten", garbled],
    ["header only", b.subarray(0, 2880)],
    ["html", Buffer.from("<!DOCTYPE html><html><title>Login</title></html>")],
  ];
}

describe("validateFitsLayout: validateFits' verdict by reading the headers alone", () => {
  it("agrees with validateFits on every fixture (astropy-written) and on broken variants of them", async () => {
    expect(FILES.length).toBeGreaterThan(10);
    for (const f of FILES) {
      for (const [what, b] of variants(f.bytes)) {
        const whole = validateFits(b);
        const layout = await validateFitsLayout(reader(b), b.length);
        expect({ file: f.name, what, ok: layout.ok }).toEqual({ file: f.name, what, ok: whole.ok });
        if (!whole.ok && !layout.ok) expect(layout.code).toBe(whole.code);
      }
    }
  });

  it("reads a few KB of a product of many MB: the data are skipped by their computed size", async () => {
    const spectrum = FILES.find((f) => f.name === "spectrum.fits")?.bytes as Buffer;
    let read = 0;
    const v = await validateFitsLayout(async (o, l) => {
      const b = spectrum.subarray(o, Math.min(spectrum.length, o + l));
      read += b.length;
      return b;
    }, spectrum.length);
    expect(v).toEqual({ ok: true, hdus: 2, bytes: spectrum.length });
    expect(read).toBeLessThan(200 * 1024);
  });
});

describe("checkStoredProduct: the rules for a product over the validation window", () => {
  const big = (head: Buffer): { readAt: (o: number, l: number) => Promise<Buffer>; size: number } => {
    const size = VALIDATION_WINDOW + 2880 * 10;
    return {
      size,
      readAt: async (o, l) => {
        const out = Buffer.alloc(Math.max(0, Math.min(l, size - o)));
        if (o < head.length) head.copy(out, 0, o, Math.min(head.length, o + out.length));
        return out;
      },
    };
  };

  it("signatures: a zip, tar or png must start as one; text must not be HTML; unknown types pass", async () => {
    const zip = big(Buffer.from("PK\x03\x04rest", "latin1"));
    expect(await checkStoredProduct(zip.readAt, zip.size, ".zip", undefined)).toBeUndefined();
    expect(await checkStoredProduct(zip.readAt, zip.size, ".tar", undefined)).toMatch(
      /does not start as a .tar/,
    );
    const tar = Buffer.alloc(512);
    tar.write("ustar", 257, "latin1");
    const t = big(tar);
    expect(await checkStoredProduct(t.readAt, t.size, ".tar", undefined)).toBeUndefined();
    const html = big(Buffer.from("<!DOCTYPE html><html>"));
    expect(await checkStoredProduct(html.readAt, html.size, ".dat", undefined)).toMatch(/HTML page/);
    expect(await checkStoredProduct(html.readAt, html.size, ".png", undefined)).toMatch(/does not start/);
    const blob = big(Buffer.from([0, 1, 2, 3]));
    expect(await checkStoredProduct(blob.readAt, blob.size, ".dat", undefined)).toBeUndefined();
  });

  it("FITS over the window: the header and the size; a size that does not match is refused", async () => {
    const header = FILES.find((f) => f.name === "bitpix8.fits")?.bytes.subarray(0, 2880) as Buffer;
    const b = big(header);
    expect(await checkStoredProduct(b.readAt, b.size, ".fits", undefined)).toMatch(
      /not a FITS extension|TRAILING|after HDU/,
    );
  });
});
