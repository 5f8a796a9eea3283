import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Card } from "../../src/fits/header.js";
import { type Bitpix, encodeImage } from "../../src/fits/image.js";
import { type TanStampOptions, tanWcsCards } from "../../src/wcs/tan-header.js";

/** fixtures/fits, where make_fixtures.py writes astropy/ and checks ours/. */
export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "../../fixtures/fits");
export const ASTROPY_DIR = join(FIXTURES, "astropy");
export const OURS_DIR = join(FIXTURES, "ours");

/** A fixture file's bytes. */
export const fixture = (dir: string, name: string): Buffer => readFileSync(join(dir, name));

/** A parsed JSON fixture. */
export const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, "utf8")) as T;

/**
 * The JSON convention shared with make_fixtures.py: int64 as {big: "<decimal>"}, NaN, infinities and -0 as
 * strings ("NaN", "Infinity", "-Infinity", "-0.0").
 * `norm` maps our decoded values into it so that `toEqual` compares exactly (incl. -0, which toEqual checks).
 */
export type Json = null | boolean | number | string | { big: string } | Json[];

export function norm(v: unknown): Json {
  if (Array.isArray(v)) return v.map(norm);
  if (typeof v === "bigint") return { big: v.toString() };
  if (typeof v === "number") {
    if (Number.isNaN(v)) return "NaN";
    if (v === Number.POSITIVE_INFINITY) return "Infinity";
    if (v === Number.NEGATIVE_INFINITY) return "-Infinity";
    // JSON has no -0: JSON.stringify(-0) is "0".
    if (Object.is(v, -0)) return "-0.0";
    return v;
  }
  if (v !== null && typeof v === "object" && "big" in v) return v as { big: string };
  if (v === null || typeof v === "boolean" || typeof v === "string") return v;
  if (v instanceof Float64Array) return Array.from(v, norm);
  throw new TypeError(`cannot normalise ${String(v)}`);
}

/** Inverse of the JSON convention for numeric comparisons (int64 rounded to the nearest double). */
export function toNumber(v: Json): number {
  if (typeof v === "number") return v;
  if (v === "NaN") return Number.NaN;
  if (v === "Infinity") return Number.POSITIVE_INFINITY;
  if (v === "-Infinity") return Number.NEGATIVE_INFINITY;
  if (v === "-0.0") return -0;
  if (v !== null && typeof v === "object" && !Array.isArray(v)) return Number(BigInt(v.big));
  throw new TypeError(`not a number: ${JSON.stringify(v)}`);
}

/** Header cards with awkward values that every "ours" file carries (and astropy must read back equal). */
export const AWKWARD_CARDS: Card[] = [
  { key: "OBJECT", value: "O'Brien's \"galaxy\"", comment: "quotes inside" },
  { key: "EMPTYSTR", value: "" },
  { key: "LEADSP", value: "  leading spaces kept" },
  { key: "LONGSTR", value: `${"x".repeat(60)}'y'` },
  { key: "TENTH", value: 0.1, comment: "shortest repr" },
  { key: "TINY", value: 1e-300 },
  { key: "SUBNORM", value: 5e-324 },
  { key: "HUGE", value: 1.7976931348623157e308 },
  { key: "NEGZERO", value: -0 },
  { key: "THIRD", value: 1 / 3 },
  { key: "BIGFLOAT", value: 1e21 },
  { key: "MANYDIG", value: -1.2345678901234568e-5 },
  { key: "SAFEINT", value: Number.MAX_SAFE_INTEGER },
  { key: "BIGINT", value: 1237648720693755918n },
  { key: "MININT64", value: -9223372036854775808n },
  { key: "FLAG", value: true },
  { key: "NOFLAG", value: false },
  { key: "UNDEF", value: null, comment: "undefined value" },
  { key: "HISTORY", value: "written by vocut's FITS encoder for astropy to check" },
  { key: "COMMENT", value: "a comment card" },
];

/** Deterministic test data for a BITPIX: extremes, zeros, and (for floats) values that stress round trips. */
export function sampleData(bitpix: Bitpix, n: number): number[] {
  const special: Record<Bitpix, number[]> = {
    8: [0, 255, 1, 128, 127],
    16: [-32768, 32767, 0, -1, 1],
    32: [-2147483648, 2147483647, 0, -1, 1],
    64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 0, -1, 2 ** 40],
    [-32]: [
      Math.fround(0.1),
      -0,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Math.fround(3.4e38),
      Math.fround(1e-45),
    ],
    [-64]: [0.1, -0, Number.NaN, Number.NEGATIVE_INFINITY, 1e-300, 5e-324, 1.7976931348623157e308],
  };
  const out = [...special[bitpix]];
  for (let i = out.length; i < n; i++) {
    if (bitpix > 0) out.push((i * 37) % (bitpix === 8 ? 256 : 1000));
    else out.push(bitpix === -32 ? Math.fround(i / 7) : i / 7);
  }
  return out.slice(0, n);
}

/** One HDU as recorded in ours/manifest.json for make_fixtures.py --ours to check. */
export interface OursHdu {
  bitpix: Bitpix;
  shape: number[];
  data: Json[];
  cards: Record<string, Json>;
  commentary: Array<[string, string]>;
}

/** A FITS file our encoder writes, with what astropy must read from it. */
export interface OursFile {
  file: string;
  hdus: OursHdu[];
}

function hduOf(bitpix: Bitpix, shape: number[], data: number[], cards: Card[], extension = false) {
  const bytes = encodeImage({ bitpix, shape, data, cards, extension });
  const values: Record<string, Json> = {};
  const commentary: Array<[string, string]> = [];
  for (const c of cards) {
    if (c.key === "HISTORY" || c.key === "COMMENT") commentary.push([c.key, String(c.value)]);
    else values[c.key] = norm(c.value ?? null);
  }
  const hdu: OursHdu = { bitpix, shape, data: data.map(norm), cards: values, commentary };
  return { bytes, hdu };
}

/**
 * The TAN stamps astropy checks, one per BITPIX file: ordinary (the 28 px hips2fits-like stamp), RA wrap,
 * near and at the pole, a 15-degree field, and the equator.
 */
export const WCS_STAMPS = [
  { bitpix: 8, raDeg: 150.1, decDeg: 2.2, widthPx: 28, heightPx: 28, pixscaleArcsec: 0.396 },
  { bitpix: 16, raDeg: 359.9995, decDeg: -30.25, widthPx: 11, heightPx: 7, pixscaleArcsec: 1.5 },
  { bitpix: 32, raDeg: 10, decDeg: 89.95, widthPx: 10, heightPx: 10, pixscaleArcsec: 36 },
  { bitpix: 64, raDeg: 45, decDeg: 90, widthPx: 6, heightPx: 5, pixscaleArcsec: 60 },
  { bitpix: -32, raDeg: 200.5, decDeg: -60, widthPx: 9, heightPx: 7, pixscaleArcsec: 6000 },
  { bitpix: -64, raDeg: 0, decDeg: 0, widthPx: 5, heightPx: 3, pixscaleArcsec: 0.2 },
] as const satisfies ReadonlyArray<TanStampOptions & { bitpix: Bitpix }>;

/**
 * Every "ours" file: one per BITPIX (sample data with extremes, NaN, -0, and a TAN stamp's WCS), and a
 * two-HDU file whose header-only primary carries the awkward cards and whose IMAGE extension is a cube.
 */
export function buildOursFixtures(): Array<{ file: string; bytes: Buffer; entry: OursFile }> {
  const out: Array<{ file: string; bytes: Buffer; entry: OursFile }> = [];
  for (const s of WCS_STAMPS) {
    const cards: Card[] = [...tanWcsCards(s), { key: "OBJECT", value: `bitpix ${s.bitpix}` }];
    const data = sampleData(s.bitpix, s.widthPx * s.heightPx);
    const { bytes, hdu } = hduOf(s.bitpix, [s.widthPx, s.heightPx], data, cards);
    const file = `bitpix${s.bitpix}.fits`;
    out.push({ file, bytes, entry: { file, hdus: [hdu] } });
  }
  const primary = hduOf(16, [], [], AWKWARD_CARDS);
  const ext = hduOf(-32, [4, 3, 2], sampleData(-32, 24), [{ key: "EXTNAME", value: "SCI" }], true);
  out.push({
    file: "mef.fits",
    bytes: Buffer.concat([primary.bytes, ext.bytes]),
    entry: { file: "mef.fits", hdus: [primary.hdu, ext.hdu] },
  });
  return out;
}
