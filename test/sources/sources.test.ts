import { describe, expect, it } from "vitest";
import { encodeImage } from "../../src/fits/image.js";
import { createSource } from "../../src/sources/create-source.js";
import { parsePixscale, parseSize } from "../../src/sources/geometry.js";
import {
  HIPS2FITS_MIRROR_URL,
  HIPS2FITS_URL,
  Hips2fitsSource,
  parseHipsList,
} from "../../src/sources/hips2fits/hips2fits-source.js";
import type { HttpResponse } from "../../src/sources/source.js";
import { TemplateSource } from "../../src/sources/template/template-source.js";

const geometry = { widthPx: 28, heightPx: 28, pixscaleArcsec: 0.396 };
const target = { id: "SDSS J1/2", raDeg: 150.5, decDeg: -2.25, row: 1 };
const res = (status: number, body: Buffer | string, headers: Record<string, string> = {}): HttpResponse => ({
  url: "http://x/",
  status,
  headers,
  body: Buffer.isBuffer(body) ? body : Buffer.from(body),
  receivedAtMs: Date.UTC(2026, 11, 3, 12, 0, 0),
});
const fits = (value: number) =>
  encodeImage({ bitpix: -32, shape: [4, 4], data: new Float32Array(16).fill(value) });

describe("hips2fits source", () => {
  const src = new Hips2fitsSource({
    kind: "hips2fits",
    endpoints: [HIPS2FITS_URL, HIPS2FITS_MIRROR_URL],
    hips: parseHipsList("CDS/P/SDSS9/u,CDS/P/SDSS9/g,red=CDS/P/SDSS9/r"),
    geometry,
    projection: "TAN",
    coordsys: "icrs",
    rotationAngleDeg: 0,
  });

  it("labels bands by the ID's last path element or label=ID", () => {
    expect(src.bands).toEqual(["u", "g", "red"]);
    expect(() => parseHipsList("CDS/P/SDSS9/g,other/g")).toThrow(/twice/);
    expect(() => parseHipsList(" , ")).toThrow(/no HiPS/);
  });

  it("builds the documented hips2fits query, with the mirror as fallback", () => {
    const r = src.request(target, "red");
    const u = new URL(r.url);
    expect(`${u.origin}${u.pathname}`).toBe(HIPS2FITS_URL);
    expect(Object.fromEntries(u.searchParams)).toEqual({
      hips: "CDS/P/SDSS9/r",
      width: "28",
      height: "28",
      projection: "TAN",
      fov: String((28 * 0.396) / 3600),
      ra: "150.5",
      dec: "-2.25",
      coordsys: "icrs",
      rotation_angle: "0",
      format: "fits",
    });
    expect(r.fallbackUrls?.[0]?.startsWith(HIPS2FITS_MIRROR_URL)).toBe(true);
  });

  it("turns responses into outcomes: FITS done, HTML-200 retryable, JSON 400 readable and permanent, 503 + Retry-After", () => {
    expect(src.interpret(res(200, fits(1))).kind).toBe("done");
    const html = src.interpret(res(200, "<!DOCTYPE html><html><title>Maintenance</title></html>"));
    expect(html).toMatchObject({ kind: "retryable", code: "NOT_FITS" });
    const bad = src.interpret(
      res(400, JSON.stringify({ title: "Bad request", description: "fov must be > 0" })),
    );
    expect(bad).toEqual({
      kind: "permanent",
      code: "HTTP_400",
      message: "HTTP 400: Bad request: fov must be > 0",
      status: 400,
    });
    const busy = src.interpret(res(503, "busy", { "retry-after": "7" }));
    expect(busy).toMatchObject({ kind: "retryable", status: 503, retryAfterMs: 7000 });
    // An HTTP-date is read against the moment the answer came (the client's clock), not the machine's now.
    const dated = src.interpret(res(429, "slow down", { "retry-after": "Thu, 03 Dec 2026 12:01:30 GMT" }));
    expect(dated).toMatchObject({ kind: "retryable", status: 429, retryAfterMs: 90_000 });
    expect(src.interpret(res(404, "nope")).kind).toBe("permanent");
    expect(src.interpret(res(200, fits(Number.NaN))).kind).toBe("no_coverage");
  });
});

describe("template source", () => {
  it("fills every placeholder, URL-encoding values", () => {
    const t = new TemplateSource({
      kind: "template",
      template:
        "https://x.org/c?id={id}&ra={ra}&dec={dec}&b={band}&s={size}&w={width}&h={height}&a={sizeArcsec}&f={fovDeg}&p={pixscale}",
      bands: ["g", "r z"],
      geometry: { widthPx: 64, heightPx: 32, pixscaleArcsec: 0.25 },
    });
    const u = new URL(t.request(target, "r z").url);
    expect(u.search).toBe(
      "?id=SDSS%20J1%2F2&ra=150.5&dec=-2.25&b=r%20z&s=64&w=64&h=32&a=16&f=0.0044444444444444444&p=0.25",
    );
  });

  it("rejects templates that cannot work", () => {
    const base = { kind: "template" as const, bands: ["g"], geometry };
    expect(() => new TemplateSource({ ...base, template: "https://x/?ra={ra}&q={nope}" })).toThrow(
      /unknown placeholder/,
    );
    expect(() => new TemplateSource({ ...base, template: "https://x/static.fits" })).toThrow(/\{ra\}/);
    expect(() => new TemplateSource({ ...base, bands: ["g", "r"], template: "https://x/?ra={ra}" })).toThrow(
      /\{band\}/,
    );
    expect(() => new TemplateSource({ ...base, template: "ftp://x/?ra={ra}" })).toThrow(/http/);
    expect(createSource({ ...base, template: "file:///data/{band}/{id}.fits?{ra}" }).kind).toBe("template");
  });

  it("treats 204 as no coverage and keeps 404 permanent", () => {
    const t = new TemplateSource({
      kind: "template",
      template: "https://x/?ra={ra}&dec={dec}",
      bands: ["g"],
      geometry,
    });
    expect(t.interpret(res(204, "")).kind).toBe("no_coverage");
    expect(t.interpret(res(404, "")).kind).toBe("permanent");
    // a template service's blank image is a real product (no blank-means-no-coverage rule)
    expect(t.interpret(res(200, fits(Number.NaN))).kind).toBe("done");
  });
});

describe("geometry flags", () => {
  it("parses sizes and pixel scales, refusing nonsense", () => {
    expect(parseSize("28")).toEqual({ widthPx: 28, heightPx: 28 });
    expect(parseSize("64x32")).toEqual({ widthPx: 64, heightPx: 32 });
    for (const bad of ["0", "-3", "2.5", "abc", "10x", "99999"])
      expect(() => parseSize(bad)).toThrow(/--size/);
    expect(parsePixscale("0.396")).toBe(0.396);
    for (const bad of ["0", "-1", "NaN", "Infinity", ""])
      expect(() => parsePixscale(bad)).toThrow(/--pixscale/);
  });
});
