import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { FitsHeader } from "../../src/fits/header.js";
import { readImage } from "../../src/fits/image.js";
import {
  cutout2d,
  encodeCutout,
  headerCarryOver,
  type ImagePlane,
  stampFromImage,
} from "../../src/wcs/cutout.js";
import { parseWcs } from "../../src/wcs/wcs.js";
import { fixtureJson, fixturePath, sepDeg } from "./helpers.js";

interface Case {
  image: string;
  label: string;
  ra: number;
  dec: number;
  width: number;
  height: number;
  mode: "partial" | "strict";
  x: number;
  y: number;
  kind: "ok" | "no_overlap" | "partial_refused";
  x0?: number;
  y0?: number;
  shape?: [number, number];
  data?: string;
  crpix?: [number, number];
  world00?: [number, number];
  worldWH?: [number, number];
}

const { cutouts } = fixtureJson<{ cutouts: Case[] }>("cutouts.json");

function plane(name: string): ImagePlane {
  const img = readImage(readFileSync(fixturePath(name)));
  return { header: img.header, width: img.width, height: img.height, data: img.data };
}
const images: Record<string, ImagePlane> = {
  "image.fits": plane("image.fits"),
  "sip-image.fits": plane("sip-image.fits"),
};

function decode(b64: string): Float32Array {
  const buf = Buffer.from(b64, "base64");
  const out = new Float32Array(buf.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}

function crpixOf(cards: ReadonlyArray<{ key: string; value?: unknown }>): [unknown, unknown] {
  return [cards.find((c) => c.key === "CRPIX1")?.value, cards.find((c) => c.key === "CRPIX2")?.value];
}

describe("cutout2d against astropy.nddata.Cutout2D (fill NaN)", () => {
  for (const c of cutouts) {
    it(`${c.image}, ${c.label}, ${c.width}x${c.height}, ${c.mode}: ${c.kind}`, () => {
      const img = images[c.image] as ImagePlane;
      const wcs = parseWcs(img.header);
      // The position's pixel agrees with astropy's far below the distance to a pixel edge (1e-6 px).
      const p = wcs.worldToPixel(c.ra, c.dec);
      expect(Math.abs(p.x - c.x)).toBeLessThan(1e-8);
      expect(Math.abs(p.y - c.y)).toBeLessThan(1e-8);
      const r = cutout2d(img, wcs, c.ra, c.dec, c.width, c.height, { partial: c.mode === "partial" });
      expect(r.kind).toBe(c.kind);
      if (r.kind !== "ok") return;
      expect([r.x0, r.y0]).toEqual([c.x0, c.y0]);
      expect([r.height, r.width]).toEqual(c.shape);
      const want = decode(c.data as string);
      expect(Array.from(r.data).map((v) => (Number.isNaN(v) ? "NaN" : v))).toEqual(
        Array.from(want).map((v) => (Number.isNaN(v) ? "NaN" : v)),
      );
      expect(r.partial).toBe(want.some((v) => Number.isNaN(v)));
      // CRPIX exactly as astropy's cutout WCS.
      expect(crpixOf(r.cards)).toEqual(c.crpix);
      // The stamp's own WCS gives the original's world coordinates (and astropy's cutout WCS's).
      const sw = parseWcs(new FitsHeader(r.cards));
      const [ra00, dec00] = c.world00 as [number, number];
      const s00 = sw.pixelToWorld(0, 0);
      expect(sepDeg(s00.raDeg, s00.decDeg, ra00, dec00)).toBeLessThan(1e-12);
      const [raWH, decWH] = c.worldWH as [number, number];
      const sWH = sw.pixelToWorld(c.width - 1, c.height - 1);
      expect(sepDeg(sWH.raDeg, sWH.decDeg, raWH, decWH)).toBeLessThan(1e-12);
    });
  }

  it("keeps the SIP and PV cards and the frame in the stamp header", () => {
    const img = images["sip-image.fits"] as ImagePlane;
    const wcs = parseWcs(img.header);
    const s = wcs.pixelToWorld(30, 20);
    const r = cutout2d(img, wcs, s.raDeg, s.decDeg, 9, 9, { partial: true });
    if (r.kind !== "ok") throw new Error(r.kind);
    const keys = r.cards.map((c) => c.key);
    expect(keys).toEqual(
      expect.arrayContaining(["CTYPE1", "A_ORDER", "A_3_0", "BP_0_3", "CD2_2", "WCSAXES"]),
    );
    expect(keys).not.toContain("NAXIS1");
    expect(keys).not.toContain("BITPIX");
  });

  it("rejects sizes that are not positive integers", () => {
    const img = images["image.fits"] as ImagePlane;
    const wcs = parseWcs(img.header);
    expect(() => cutout2d(img, wcs, 150.1, 2.2, 0, 5, { partial: true })).toThrow(/widthPx/);
    expect(() => cutout2d(img, wcs, 150.1, 2.2, 5, 2.5, { partial: true })).toThrow(/heightPx/);
  });

  it("answers no_overlap for a stamp ending exactly at the first column (astropy 5.2.1 gives all NaN)", () => {
    const img = images["image.fits"] as ImagePlane;
    const wcs = parseWcs(img.header);
    // Centre at x = -2.6: ceil(-2.6 + 2.5) = 0 is the exclusive end.
    const s = wcs.pixelToWorld(-2.6, 20);
    expect(cutout2d(img, wcs, s.raDeg, s.decDeg, 5, 5, { partial: true }).kind).toBe("no_overlap");
    const t = wcs.pixelToWorld(-2.4, 20);
    const r = cutout2d(img, wcs, t.raDeg, t.decDeg, 5, 5, { partial: true });
    expect(r).toMatchObject({ kind: "ok", x0: -4, partial: true });
  });

  it("treats a position that cannot be projected as no_overlap", () => {
    const img = images["image.fits"] as ImagePlane;
    const wcs = parseWcs(img.header);
    expect(cutout2d(img, wcs, 330.1, -2.2, 5, 5, { partial: true }).kind).toBe("no_overlap");
  });
});

describe("encodeCutout", () => {
  it("writes float32 data, the WCS and extra cards, and its WCS reads back to the same sky", () => {
    const img = images["sip-image.fits"] as ImagePlane;
    const wcs = parseWcs(img.header);
    const c = cutouts.find(
      (k) => k.image === "sip-image.fits" && k.label === "corner" && k.mode === "partial",
    );
    if (c === undefined) throw new Error("fixture case missing");
    const r = cutout2d(img, wcs, c.ra, c.dec, c.width, c.height, { partial: true });
    if (r.kind !== "ok") throw new Error(r.kind);
    const buf = encodeCutout(r, [{ key: "VOCUTID", value: "obj-7", comment: "target id" }]);
    const back = readImage(buf);
    expect(back.bitpix).toBe(-32);
    expect([back.width, back.height]).toEqual([r.width, r.height]);
    expect(Array.from(back.data).map((v) => (Number.isNaN(v) ? "NaN" : v))).toEqual(
      Array.from(r.data).map((v) => (Number.isNaN(v) ? "NaN" : v)),
    );
    expect(back.header.get("VOCUTID")).toBe("obj-7");
    expect(back.header.get("CRPIX1")).toBe(c.crpix?.[0]);
    const sw = parseWcs(back.header);
    for (const [x, y] of [
      [0, 0],
      [5, 5],
      [3, 1],
    ] as const) {
      const a = sw.pixelToWorld(x, y);
      const b = wcs.pixelToWorld(x + r.x0, y + r.y0);
      expect(sepDeg(a.raDeg, a.decDeg, b.raDeg, b.decDeg)).toBeLessThan(1e-12);
    }
    const [ra00, dec00] = c.world00 as [number, number];
    const s00 = sw.pixelToWorld(0, 0);
    expect(sepDeg(s00.raDeg, s00.decDeg, ra00, dec00)).toBeLessThan(1e-12);
  });
});

describe("stampFromImage (the one stamp cutter of --images and SIA local cuts)", () => {
  const base = images["image.fits"] as ImagePlane;
  // The image's header with a zero point and a filter that the stamp should carry over.
  const img: ImagePlane = {
    ...base,
    header: new FitsHeader([
      ...base.header.cards,
      { key: "MAGZPT", value: 25.1 },
      { key: "FILTER", value: "K" },
    ]),
  };
  const wcs = parseWcs(img.header);
  const s = wcs.pixelToWorld(30.2, 20.7);

  it("is cutout2d, then the WCS, the carried-over header and the caller's cards, encoded", () => {
    const seen: boolean[] = [];
    const r = stampFromImage(img, wcs, s.raDeg, s.decDeg, 7, 6, {
      partial: true,
      cards: (cut) => {
        seen.push(cut.partial);
        return [
          { key: "FILTER", value: "Ks", comment: "the caller's value wins" },
          { key: "VOPARTL", value: cut.partial },
        ];
      },
    });
    if (r.kind !== "ok") throw new Error(r.kind);
    const cut = cutout2d(img, wcs, s.raDeg, s.decDeg, 7, 6, { partial: true });
    if (cut.kind !== "ok") throw new Error(cut.kind);
    const extra = [
      { key: "FILTER", value: "Ks", comment: "the caller's value wins" },
      { key: "VOPARTL", value: false },
    ];
    const kept = headerCarryOver(img.header, new Set(["FILTER", "VOPARTL"]));
    expect(r.body.equals(encodeCutout(cut, [...kept, ...extra]))).toBe(true);
    expect(seen).toEqual([false]);
    expect(r.partial).toBe(false);
    const back = readImage(r.body);
    expect(back.header.get("MAGZPT")).toBe(25.1);
    expect(back.header.get("FILTER")).toBe("Ks");
  });

  it("takes replacement pixels (a co-add) and passes refusals through", () => {
    const r = stampFromImage(img, wcs, s.raDeg, s.decDeg, 4, 4, {
      partial: true,
      cards: () => [],
      pixels: (cut) => new Float32Array(cut.width * cut.height).fill(7),
    });
    if (r.kind !== "ok") throw new Error(r.kind);
    expect(Array.from(readImage(r.body).data)).toEqual(new Array(16).fill(7));
    const edge = wcs.pixelToWorld(0, 0);
    const strict = { partial: false, cards: () => [] };
    expect(stampFromImage(img, wcs, edge.raDeg, edge.decDeg, 5, 5, strict).kind).toBe("partial_refused");
    expect(stampFromImage(img, wcs, 330.1, -2.2, 5, 5, strict).kind).toBe("no_overlap");
  });
});
