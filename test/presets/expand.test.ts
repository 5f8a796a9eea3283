import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import type { Target } from "../../src/catalog/types.js";
import { jobSpecFrom } from "../../src/cli/config.js";
import type { RawOptions } from "../../src/cli/options.js";
import { VocutError } from "../../src/errors.js";
import { PRESETS } from "../../src/presets/presets.js";
import { createSource } from "../../src/sources/create-source.js";
import { HIPS2FITS_MIRROR_URL, HIPS2FITS_URL } from "../../src/sources/hips2fits/hips2fits-source.js";
import { isProducer, type RequestSource } from "../../src/sources/source.js";

/** Flags as commander hands them over when only `extra` is given on the command line. */
function raw(extra: Partial<RawOptions>): RawOptions {
  return {
    projection: "TAN",
    coordsys: "icrs",
    rotation: "0",
    interp: "bilinear",
    grid: "hips2fits",
    siaVersion: "2",
    pick: "margin",
    bands: "",
    layout: "{band}/{id}.fits",
    ledgerJournal: "auto",
    tarSize: "1024",
    tileCacheMb: "256",
    cacheGb: "20",
    concurrency: "4",
    rate: "5",
    burst: "1",
    timeout: "60",
    retries: "5",
    maxBytes: "104857600",
    pauseAfter: "10",
    pause: "60",
    giveUpAfter: "5",
    stallTimeout: "10",
    ...extra,
  };
}

const spec = (extra: Partial<RawOptions>) => jobSpecFrom("cat.csv", raw(extra));

function usage(fn: () => unknown): VocutError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(VocutError);
    expect((e as VocutError).exitCode).toBe(2);
    return e as VocutError;
  }
  throw new Error("expected a usage error");
}

function requester(extra: Partial<RawOptions>): RequestSource {
  const src = createSource(spec(extra).source);
  if (isProducer(src)) throw new Error("expected a request source");
  return src;
}

const target = (raDeg: number, decDeg: number): Target => ({ row: 1, id: "x", raDeg, decDeg });

const hips2fits = (ids: Array<[string, string]>) => ids.map(([label, hips]) => ({ label, hips }));

describe("--preset expands to a job spec", () => {
  it('sdss: hips2fits on CDS/P/SDSS9/{u,g,r,i,z}, 28 px at 0.396"/px', () => {
    const s = spec({ preset: "sdss" });
    expect(s.source).toEqual({
      kind: "hips2fits",
      endpoints: [HIPS2FITS_URL, HIPS2FITS_MIRROR_URL],
      hips: hips2fits([
        ["u", "CDS/P/SDSS9/u"],
        ["g", "CDS/P/SDSS9/g"],
        ["r", "CDS/P/SDSS9/r"],
        ["i", "CDS/P/SDSS9/i"],
        ["z", "CDS/P/SDSS9/z"],
      ]),
      geometry: { widthPx: 28, heightPx: 28, pixscaleArcsec: 0.396 },
      projection: "TAN",
      coordsys: "icrs",
      rotationAngleDeg: 0,
    });
    expect(s.layout).toBe("{band}/{id}.fits");
    expect(s.catalog.path).toBe(resolve("cat.csv"));
  });

  it("sdss is the same job as the README's explicit --hips2fits command (a resume accepts either)", () => {
    const explicit = spec({
      hips2fits: "CDS/P/SDSS9/u,CDS/P/SDSS9/g,CDS/P/SDSS9/r,CDS/P/SDSS9/i,CDS/P/SDSS9/z",
      size: "28",
      pixscale: "0.396",
    });
    expect(spec({ preset: "sdss" })).toEqual(explicit);
  });

  it('panstarrs: CDS/P/PanSTARRS/DR1/{g,r,i,z,y} at 0.25"/px, 64 px', () => {
    const s = spec({ preset: "panstarrs" }).source;
    expect(s.kind).toBe("hips2fits");
    if (s.kind !== "hips2fits") return;
    expect(s.hips).toEqual(
      hips2fits(["g", "r", "i", "z", "y"].map((b) => [b, `CDS/P/PanSTARRS/DR1/${b}`] as [string, string])),
    );
    expect(s.geometry).toEqual({ widthPx: 64, heightPx: 64, pixscaleArcsec: 0.25 });
  });

  it('legacy: the Legacy Survey viewer fits-cutout template, bands g,r,z at 0.262"/px', () => {
    const s = spec({ preset: "legacy" });
    expect(s.source).toEqual({
      kind: "template",
      template:
        "https://www.legacysurvey.org/viewer/fits-cutout?ra={ra}&dec={dec}&layer=ls-dr10&pixscale={pixscale}&size={size}&bands={band}",
      bands: ["g", "r", "z"],
      geometry: { widthPx: 64, heightPx: 64, pixscaleArcsec: 0.262 },
    });
    expect(requester({ preset: "legacy" }).request(target(150.5, -2.25), "r").url).toBe(
      "https://www.legacysurvey.org/viewer/fits-cutout?ra=150.5&dec=-2.25&layer=ls-dr10&pixscale=0.262&size=64&bands=r",
    );
  });

  it('first: hips2fits on CDS/P/VLA/FIRST at 1.8"/px, one band named first', () => {
    const s = spec({ preset: "first" }).source;
    expect(s.kind).toBe("hips2fits");
    if (s.kind !== "hips2fits") return;
    expect(s.hips).toEqual(hips2fits([["first", "CDS/P/VLA/FIRST"]]));
    expect(s.geometry).toEqual({ widthPx: 64, heightPx: 64, pixscaleArcsec: 1.8 });
  });

  it('2mass: CDS/P/2MASS/{J,H,K} at 1.0"/px', () => {
    const s = spec({ preset: "2mass" }).source;
    expect(s.kind).toBe("hips2fits");
    if (s.kind !== "hips2fits") return;
    expect(s.hips).toEqual(
      hips2fits([
        ["J", "CDS/P/2MASS/J"],
        ["H", "CDS/P/2MASS/H"],
        ["K", "CDS/P/2MASS/K"],
      ]),
    );
    expect(s.geometry.pixscaleArcsec).toBe(1);
  });

  it("ukidss: exit 2, no confirmed SIA endpoint: says how to use --sia", () => {
    const e = usage(() => spec({ preset: "ukidss" }));
    expect(e.message).toMatch(/has no service URL.*--sia URL --sia-version 1/);
  });

  it("every runnable preset builds a source and a request", () => {
    for (const p of PRESETS) {
      if (p.source.kind === "unavailable") continue;
      const src = requester({ preset: p.name });
      expect(src.request(target(10, 20), src.bands[0] as string).url).toMatch(/^https:\/\//);
      expect(p.docs).toMatch(/^https?:\/\//);
    }
  });
});

describe("explicit flags override the preset", () => {
  it("--preset sdss --size 64 keeps the SDSS HiPS and pixel scale, size 64", () => {
    const s = spec({ preset: "sdss", size: "64" }).source;
    expect(s.kind === "hips2fits" && s.hips.map((h) => h.hips)).toEqual([
      "CDS/P/SDSS9/u",
      "CDS/P/SDSS9/g",
      "CDS/P/SDSS9/r",
      "CDS/P/SDSS9/i",
      "CDS/P/SDSS9/z",
    ]);
    expect(s.geometry).toEqual({ widthPx: 64, heightPx: 64, pixscaleArcsec: 0.396 });
  });

  it("--preset sdss --pixscale 0.2 keeps size 28", () => {
    expect(spec({ preset: "sdss", pixscale: "0.2" }).source.geometry).toEqual({
      widthPx: 28,
      heightPx: 28,
      pixscaleArcsec: 0.2,
    });
  });

  it("--preset legacy --size 48x32 --pixscale 0.5", () => {
    expect(spec({ preset: "legacy", size: "48x32", pixscale: "0.5" }).source.geometry).toEqual({
      widthPx: 48,
      heightPx: 32,
      pixscaleArcsec: 0.5,
    });
  });

  it("--bands picks a subset of a hips2fits preset, in the order given", () => {
    const s = spec({ preset: "sdss", bands: "r,g" }).source;
    expect(s.kind === "hips2fits" && s.hips).toEqual(
      hips2fits([
        ["r", "CDS/P/SDSS9/r"],
        ["g", "CDS/P/SDSS9/g"],
      ]),
    );
  });

  it("--bands outside a hips2fits preset is exit 2 naming the preset's bands", () => {
    expect(usage(() => spec({ preset: "panstarrs", bands: "u" })).message).toMatch(/g,r,i,z,y/);
  });

  it("--bands replaces a template preset's bands (Legacy DR10 has i too)", () => {
    const s = spec({ preset: "legacy", bands: "g,r,i,z" }).source;
    expect(s.kind === "template" && s.bands).toEqual(["g", "r", "i", "z"]);
  });

  it("hips2fits settings still apply: --hips2fits-url, --projection, --coordsys, --rotation", () => {
    const s = spec({
      preset: "2mass",
      hips2fitsUrl: "http://127.0.0.1:9/h2f",
      projection: "SIN",
      rotation: "30",
    }).source;
    expect(s.kind === "hips2fits" && [s.endpoints, s.projection, s.rotationAngleDeg]).toEqual([
      ["http://127.0.0.1:9/h2f"],
      "SIN",
      30,
    ]);
  });

  it("a source flag next to --preset is exit 2", () => {
    expect(usage(() => spec({ preset: "sdss", hips2fits: "CDS/P/DSS2/red" })).message).toMatch(
      /--preset sdss sets the source; drop --hips2fits/,
    );
    usage(() => spec({ preset: "legacy", url: "https://x.example/?ra={ra}&dec={dec}" }));
    usage(() => spec({ preset: "sdss", hips: "/data/hips" }));
  });

  it("an unknown preset is exit 2 with the list of names", () => {
    const e = usage(() => spec({ preset: "dss" }));
    for (const p of PRESETS) expect(e.message).toContain(p.name);
  });

  it('without --preset the geometry defaults stay 28 px and 0.396"/px', () => {
    expect(spec({ hips2fits: "CDS/P/SDSS9/g" }).source.geometry).toEqual({
      widthPx: 28,
      heightPx: 28,
      pixscaleArcsec: 0.396,
    });
  });
});
