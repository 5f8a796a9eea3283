import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { angleUnitOf, parseDec, parseRa } from "../../src/catalog/coords.js";
import { fixture } from "./helpers.js";

const astropy = JSON.parse(readFileSync(fixture("sexagesimal.json"), "utf8")) as {
  ra: Record<string, number>;
  dec: Record<string, number>;
};
const col = { name: "c" };

describe("sexagesimal against astropy", () => {
  it.each(Object.entries(astropy.ra))("RA %s", (text, deg) => {
    const r = parseRa(text, col);
    expect(r.ok).toBe(true);
    if (r.ok) expect(Math.abs(r.deg - deg)).toBeLessThan(1e-9);
  });
  it.each(Object.entries(astropy.dec))("Dec %s", (text, deg) => {
    const r = parseDec(text, col);
    expect(r.ok).toBe(true);
    if (r.ok) expect(Math.abs(r.deg - deg)).toBeLessThan(1e-9);
  });
});

describe("parseRa / parseDec", () => {
  it("reads decimal degrees and numbers", () => {
    expect(parseRa("359.9999", col)).toEqual({ ok: true, deg: 359.9999 });
    expect(parseRa(" 1e1 ", col)).toEqual({ ok: true, deg: 10 });
    expect(parseRa(0, col)).toEqual({ ok: true, deg: 0 });
    expect(parseDec(-90, col)).toEqual({ ok: true, deg: -90 });
    expect(parseDec("+90", col)).toEqual({ ok: true, deg: 90 });
    expect(parseRa(10n, col)).toEqual({ ok: true, deg: 10 });
  });
  it("keeps the sign of -00:30:00", () => {
    expect(parseDec("-00:30:00", col)).toEqual({ ok: true, deg: -0.5 });
    expect(parseDec("-0 30 0", col)).toEqual({ ok: true, deg: -0.5 });
  });
  it("uses unit hints", () => {
    expect(parseRa("1.5", { name: "ra", unit: "h" })).toEqual({ ok: true, deg: 22.5 });
    expect(parseRa("1.5", { name: "ra", unit: "hourangle" })).toEqual({ ok: true, deg: 22.5 });
    expect(parseRa("10:00:00", { name: "ra", unit: '"d:m:s"' })).toEqual({ ok: true, deg: 10 });
    expect(parseRa(Math.PI, { name: "ra", unit: "rad" })).toEqual({ ok: true, deg: 180 });
    expect(angleUnitOf({ name: "RA_hms" })).toBe("hour");
    expect(angleUnitOf({ name: "ra", unit: '"h:m:s"' })).toBe("hour");
    expect(angleUnitOf({ name: "ra", unit: "deg" })).toBe("deg");
    expect(angleUnitOf({ name: "ra" })).toBeUndefined();
  });
  it.each([
    ["ra", "", "missing"],
    ["ra", "   ", "missing"],
    ["ra", null, "missing"],
    ["ra", "NaN", "nan"],
    ["ra", Number.NaN, "nan"],
    ["ra", "inf", "nan"],
    ["dec", Number.NEGATIVE_INFINITY, "nan"],
    ["ra", "360", "ra_range"],
    ["ra", 360, "ra_range"],
    ["ra", "24:00:00", "ra_range"],
    ["ra", "-0.001", "ra_range"],
    ["ra", "-01:00:00", "ra_range"],
    ["dec", "90.0001", "dec_range"],
    ["dec", "-91", "dec_range"],
    ["dec", "+90:00:01", "dec_range"],
    ["ra", "abc", "parse"],
    ["ra", "12:61:00", "parse"],
    ["ra", "12:30:60", "parse"],
    ["ra", "1.2.3", "parse"],
    ["ra", "12:30:00:00", "parse"],
    ["ra", "12.5:30", "parse"],
    ["dec", true, "parse"],
    ["dec", [1, 2], "parse"],
  ])("%s %j is rejected as %s", (axis, value, reason) => {
    const r = axis === "ra" ? parseRa(value, { name: "COL" }) : parseDec(value, { name: "COL" });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reason).toBe(reason);
      expect(r.message).toContain("COL");
    }
  });
  it("names the value in the message", () => {
    const r = parseRa("abc", { name: "RAJ2000" });
    expect(r).toEqual({
      ok: false,
      reason: "parse",
      message: 'RA "abc" in column RAJ2000: not a number or sexagesimal angle',
    });
  });
});
