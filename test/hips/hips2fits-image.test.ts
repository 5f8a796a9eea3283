import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { rasterKind } from "../../src/raster/raster.js";
import { tilePath } from "../../src/sources/hips/properties.js";
import { hips2fitsImageFrom } from "../../src/sources/hips2fits/image-format.js";
import { listFiles, runCli, tempDir } from "../helpers/cli.js";

// Real PNG and JPEG bytes: 64x64 tiles Hipsgen wrote (fixtures/hips/make_png_hips.sh).
const HIPS = resolve(import.meta.dirname, "../../fixtures/hips");
const PNG_BYTES = readFileSync(join(HIPS, "sample-irg-png", tilePath(12, 111649822, "png")));
const JPG_BYTES = readFileSync(join(HIPS, "sample-g-jpg", tilePath(12, 111649822, "jpg")));
const HTML = Buffer.from(
  "<!DOCTYPE html><html><head><title>Service busy</title></head><body>try later</body></html>",
);

// The tests run the built CLI up to 8 times each: a loaded 2-core machine needs more than 30 s.
describe("vocut run --hips2fits --format png|jpg with --stretch/--min-cut/--max-cut/--cmap", {
  timeout: 180_000,
}, () => {
  let tmp: ReturnType<typeof tempDir>;
  let server: Server | undefined;
  const queries: URLSearchParams[] = [];
  beforeEach(() => {
    tmp = tempDir();
    queries.length = 0;
  });
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
    tmp.cleanup();
  });

  /**
   * A hips2fits stand-in on 127.0.0.1: answers the documented image formats with real image bytes, refuses
   * (400, JSON as the service does) a query whose image parameters are not what `expected` says, and
   * answers 200 with an HTML page for the target at ra 150.002 (a proxy's error page).
   */
  async function serve(expected: Record<string, string | null>): Promise<string> {
    const srv = createServer((req, res) => {
      const q = new URL(req.url ?? "/", "http://x").searchParams;
      queries.push(q);
      for (const [k, v] of Object.entries(expected)) {
        if (q.get(k) !== v) {
          res.writeHead(400, { "content-type": "application/json" });
          res.end(JSON.stringify({ title: "Bad request", description: `${k}=${q.get(k)}, wanted ${v}` }));
          return;
        }
      }
      if (q.get("ra") === "150.002") {
        res.writeHead(200, { "content-type": "text/html" });
        res.end(HTML);
        return;
      }
      const format = q.get("format");
      const body = format === "png" ? PNG_BYTES : format === "jpg" ? JPG_BYTES : undefined;
      if (body === undefined) {
        res.writeHead(400);
        res.end("format");
        return;
      }
      res.writeHead(200, { "content-type": format === "png" ? "image/png" : "image/jpeg" });
      res.end(body);
    });
    server = srv;
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${(srv.address() as AddressInfo).port}/hips2fits`;
  }

  function catalog(): string {
    const cat = join(tmp.dir, "cat.csv");
    writeFileSync(cat, "id,ra,dec\na,150.001,2.2\nb,150.002,2.2\nc,150.003,2.2\n");
    return cat;
  }

  const base = (url: string, out: string): string[] => [
    "run",
    catalog(),
    "--out",
    out,
    "--hips2fits",
    "CDS/P/DSS2/color",
    "--hips2fits-url",
    url,
    "--size",
    "64",
    "--rate",
    "1000",
    "--retries",
    "1",
    "--json",
  ];

  it("png: the parameters go through as the service names them; images saved as .png, the HTML page never", async () => {
    const url = await serve({
      format: "png",
      stretch: "asinh",
      min_cut: "1.5%",
      max_cut: "250",
      cmap: "viridis",
    });
    const out = join(tmp.dir, "png");
    const r = await runCli([
      ...base(url, out),
      "--format",
      "png",
      "--stretch",
      "asinh",
      "--min-cut",
      "1.5%",
      "--max-cut",
      "250",
      "--cmap",
      "viridis",
    ]);
    expect(r.code).toBe(5); // the HTML page persists: retry later
    expect(listFiles(out).filter((f) => !f.startsWith(".") && !f.includes("vocut"))).toEqual([
      "color/a.png",
      "color/c.png",
    ]);
    expect(readFileSync(join(out, "color/a.png")).equals(PNG_BYTES)).toBe(true);
    expect(existsSync(join(out, "color/b.png"))).toBe(false);
    const failed = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((e) => e.state === "failed_retryable");
    expect(failed).toHaveLength(1);
    expect(String(failed[0]?.message)).toMatch(/HTML.*not a PNG image/);
    // Every query carried the image parameters, and the geometry as before.
    expect(queries.length).toBe(2 + 2);
    for (const q of queries)
      expect([q.get("width"), q.get("height"), q.get("projection")]).toEqual(["64", "64", "TAN"]);
  });

  it("jpg with the service's defaults: only format=jpg is sent", async () => {
    const url = await serve({ format: "jpg", stretch: null, min_cut: null, max_cut: null, cmap: null });
    const out = join(tmp.dir, "jpg");
    const r = await runCli([...base(url, out), "--format", "jpg"]);
    expect(r.code).toBe(5);
    const a = readFileSync(join(out, "color/a.jpg"));
    expect(rasterKind(a)).toBe("jpeg");
    expect(existsSync(join(out, "color/c.jpg"))).toBe(true);
    expect(existsSync(join(out, "color/b.jpg"))).toBe(false);
  });

  it("bad image parameters are usage errors (exit 2) before any request", async () => {
    const url = await serve({});
    for (const [extra, msg] of [
      [["--format", "gif"], /--format gif: hips2fits gives fits, png, jpg/],
      [["--format", "png", "--stretch", "cubic"], /--stretch cubic: one of power, linear, sqrt, log, asinh/],
      [["--stretch", "log"], /--stretch: only for --format png or jpg/],
      [["--format", "png", "--min-cut", "120%"], /--min-cut 120%/],
      [["--format", "png", "--max-cut", "lots"], /--max-cut lots/],
      [["--format", "png", "--min-cut", "99%", "--max-cut", "1%"], /must be below/],
      [["--format", "png", "--cmap", "a&b=c"], /--cmap/],
    ] as const) {
      const r = await runCli([...base(url, join(tmp.dir, "bad")), ...extra]);
      expect(r.code, extra.join(" ")).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
    expect(queries).toHaveLength(0);
    const notHips2fits = await runCli([
      "run",
      catalog(),
      "--out",
      join(tmp.dir, "x"),
      "--url",
      `${url}?ra={ra}`,
      "--bands",
      "g",
      "--cmap",
      "viridis",
    ]);
    expect(notHips2fits.code).toBe(2);
    expect(notHips2fits.stderr).toMatch(/hips2fits parameters/);
  });

  it("the stored parameters are the service's, and absent ones stay absent (the job's identity is unchanged)", () => {
    expect(hips2fitsImageFrom({})).toEqual({});
    expect(hips2fitsImageFrom({ format: "fits" })).toEqual({});
    expect(hips2fitsImageFrom({ format: "jpg", minCut: "0.5%", maxCut: "99.5%" })).toEqual({
      format: "jpg",
      minCut: "0.5%",
      maxCut: "99.5%",
    });
  });
});
