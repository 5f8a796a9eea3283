import { once } from "node:events";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readImage } from "../../src/fits/image.js";
import { parseTanWcs, tanWorldToPixel } from "../../src/wcs/tan-header.js";
import { runCli, tempDir, withFlags } from "../helpers/cli.js";
import { pixelOf, pixelValue, type SiaServer, type SurveyImage, startSia } from "../helpers/sia-server.js";

const PX = 1 / 3600; // 1 arcsec pixels

/** A 120 x 100 image centred on (ra, dec). */
function image(name: string, band: "J" | "H", ra: number, dec: number): SurveyImage {
  return {
    name,
    band,
    width: 120,
    height: 100,
    wcs: { crval1: ra, crval2: dec, crpix1: 60.5, crpix2: 50.5, cd: [-PX, 0, 0, PX], lonpole: 180 },
  };
}

// Two overlapping fields (72" apart), each observed in J and H.
const IMAGES = [
  image("fieldA_J", "J", 150, 2),
  image("fieldB_J", "J", 150.02, 2),
  image("fieldA_H", "H", 150, 2),
  image("fieldB_H", "H", 150.02, 2),
];

// Positions clear of pixel edges (a target exactly between two pixels is decided by rounding noise).
const IN_A = [150.0001, 2.0001] as const; // field A only, well inside
const OVERLAP = [150.0121, 2.0011] as const; // both fields; further from B's edge
const EDGE = [150.0001, 2.0126] as const; // 4.6 px from A's top edge: the 16-px stamp runs off
const TARGETS = [
  ["inA", ...IN_A],
  ["overlap", ...OVERLAP],
  ["edge", ...EDGE],
  ["nowhere", 149.9, 2.0], // outside every image
] as const;

const SIZE = 16;

let tmp: ReturnType<typeof tempDir>;
let sia: SiaServer | undefined;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(async () => {
  await sia?.close();
  sia = undefined;
  tmp.cleanup();
});

function catalog(): string {
  const path = join(tmp.dir, "targets.csv");
  writeFileSync(path, ["id,ra,dec", ...TARGETS.map((t) => t.join(","))].join("\n"));
  return path;
}

/** The stamp astropy's Cutout2D would cut from `img` around the target (NaN off the image). */
function expectedStamp(img: SurveyImage, ra: number, dec: number): Float64Array {
  const { x, y } = pixelOf(img, ra, dec);
  const x0 = Math.ceil(x - SIZE / 2);
  const y0 = Math.ceil(y - SIZE / 2);
  const out = new Float64Array(SIZE * SIZE);
  for (let j = 0; j < SIZE; j++) {
    for (let i = 0; i < SIZE; i++) {
      const sx = x0 + i;
      const sy = y0 + j;
      out[j * SIZE + i] =
        sx < 0 || sy < 0 || sx >= img.width || sy >= img.height ? Number.NaN : pixelValue(img, sx, sy);
    }
  }
  return out;
}

function byName(name: string): SurveyImage {
  return IMAGES.find((i) => i.name === name) as SurveyImage;
}

/** Check a stamp file: pixels as expected from `img`, and its WCS puts the target at the stamp's centre. */
function checkStamp(path: string, img: SurveyImage, ra: number, dec: number): void {
  const s = readImage(readFileSync(path));
  expect([s.width, s.height]).toEqual([SIZE, SIZE]);
  const want = expectedStamp(img, ra, dec);
  for (let k = 0; k < want.length; k++) {
    if (Number.isNaN(want[k] as number)) expect(s.data[k]).toBeNaN();
    else expect(s.data[k]).toBe(want[k]);
  }
  const p = tanWorldToPixel(parseTanWcs(s.header), ra, dec);
  expect(Math.abs(p.x - 1 - (SIZE - 1) / 2)).toBeLessThanOrEqual(0.5 + 1e-9);
  expect(Math.abs(p.y - 1 - (SIZE - 1) / 2)).toBeLessThanOrEqual(0.5 + 1e-9);
}

async function statusOf(out: string) {
  return JSON.parse((await runCli(["status", out, "--json"])).stdout) as {
    byState: Record<string, number>;
    failures: Array<{ id: string; band: string; code: string; message: string }>;
  };
}

/** `vocut run` of the test catalog against the SIA 1 service for these bands, plus extra flags. */
const sia1Run = (out: string, bands: string, ...extra: string[]) => [
  "run",
  catalog(),
  "--out",
  out,
  "--sia",
  `${sia?.base}/sia1`,
  "--sia-version",
  "1",
  "--bands",
  bands,
  ...extra,
];

const common = ["--size", String(SIZE), "--pixscale", "1", "--rate", "500", "--concurrency", "4", "--quiet"];

describe("--sia --sia-version 1: query, best image per band, each image fetched once, cut locally", () => {
  for (const binary of [false, true]) {
    it(`cuts every stamp pixel-aligned from the right image (${binary ? "BINARY" : "TABLEDATA"} answers); resume asks nothing`, async () => {
      sia = await startSia(IMAGES, { binary });
      const out = join(tmp.dir, "out");
      const args = sia1Run(out, "J,H", ...common);
      const r = await runCli(args);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const st = await statusOf(out);
      expect(st.byState).toMatchObject({ done: 6, no_coverage: 2 });
      for (const band of ["J", "H"] as const) {
        checkStamp(join(out, band, "inA.fits"), byName(`fieldA_${band}`), ...IN_A);
        checkStamp(join(out, band, "overlap.fits"), byName(`fieldB_${band}`), ...OVERLAP); // most margin
        checkStamp(join(out, band, "edge.fits"), byName(`fieldA_${band}`), ...EDGE); // NaN-padded
        expect(existsSync(join(out, band, "nowhere.fits"))).toBe(false);
      }
      // One query per target, each image at most once per job.
      expect(sia.paths.get("/sia1")).toBe(4);
      for (const img of IMAGES) expect(sia.hits.get(`/img/${img.name}.fits`) ?? 0).toBeLessThanOrEqual(1);
      const before = new Map(sia.hits);
      expect((await runCli(args)).code).toBe(0);
      expect(sia.hits).toEqual(before);
    }, 60_000);
  }

  it("--cache-gb bounds OUT/.vocut-cache: the least recently used downloads are deleted and forgotten", async () => {
    sia = await startSia(IMAGES);
    const out = join(tmp.dir, "out");
    const limit = 100_000; // bytes: two of the 49 kB images
    const r = await runCli(sia1Run(out, "J,H", ...common, "--cache-gb", String(limit / 2 ** 30)));
    expect(r.code).toBe(0);
    const cache = join(out, ".vocut-cache");
    const sizes = readdirSync(cache).map((f) => statSync(join(cache, f)).size);
    expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(limit);
    // What was deleted is forgotten by the ledger too (a later need fetches it again).
    const db = new Database(join(out, "vocut.db"), { readonly: true });
    const kept = db.prepare("SELECT count(*) AS n FROM shared_fetch WHERE state = 'done'").get() as {
      n: number;
    };
    db.close();
    expect(kept.n).toBe(sizes.length);
    // The stamps are as without a bound.
    checkStamp(join(out, "J", "overlap.fits"), byName("fieldB_J"), ...OVERLAP);
    checkStamp(join(out, "H", "inA.fits"), byName("fieldA_H"), ...IN_A);
  }, 60_000);

  it("--pick first takes the service's first image; --no-partial refuses a stamp running off its image", async () => {
    sia = await startSia(IMAGES);
    const out = join(tmp.dir, "out");
    const r = await runCli(sia1Run(out, "J", "--pick", "first", "--no-partial", ...common));
    expect(r.code).toBe(0);
    checkStamp(join(out, "J", "overlap.fits"), byName("fieldA_J"), ...OVERLAP);
    expect(existsSync(join(out, "J", "edge.fits"))).toBe(false);
    const st = await statusOf(out);
    expect(st.byState).toMatchObject({ done: 2, no_coverage: 2 });
  }, 60_000);

  it("an error sent as 200 + QUERY_STATUS=ERROR fails the target (not an empty answer) and is not kept: retry asks again", async () => {
    sia = await startSia(IMAGES);
    sia.faults.set("/sia1", ["error"]);
    const out = join(tmp.dir, "out");
    const args = sia1Run(out, "J", ...common);
    const r = await runCli(args);
    expect(r.code).toBe(4);
    const st = await statusOf(out);
    expect(st.byState.failed_permanent).toBe(1);
    expect(st.failures[0]?.message).toMatch(/QUERY_STATUS=ERROR: Invalid POS: out of range/);
    const again = await runCli(["retry", out, "--permanent", "--rate", "500", "--quiet"]);
    expect(again.code).toBe(0);
    expect(sia.paths.get("/sia1")).toBe(5);
  }, 60_000);
});

describe("hostile SIA answers fail their target only", () => {
  it("a VOTable cut short and one over --max-bytes: those targets fail permanently, the others are done", async () => {
    sia = await startSia(IMAGES);
    // Targets are queried in sky order, not catalog order: fail the first two queries, whichever they are.
    sia.faults.set("/sia1", ["cut", "huge"]);
    const out = join(tmp.dir, "out");
    const r = await runCli(
      withFlags(sia1Run(out, "J", ...common), "--concurrency", "1", "--max-bytes", "100000"),
    );
    expect(r.code).toBe(4);
    const st = await statusOf(out);
    expect(st.byState.failed_permanent).toBe(2);
    const messages = st.failures.map((f) => `${f.code} ${f.message}`).join("\n");
    expect(messages).toMatch(/REFUSED .*not a complete VOTable/);
    expect(messages).toMatch(/TOO_LARGE .*over the limit of 100000/);
    expect((st.byState.done ?? 0) + (st.byState.no_coverage ?? 0)).toBe(2);
    // Nothing broken was kept: a retry asks again and completes.
    const again = await runCli(["retry", out, "--permanent", "--rate", "500", "--quiet"]);
    expect(again.code).toBe(0);
    expect(sia.paths.get("/sia1")).toBe(6);
  }, 60_000);
});

describe("--sia on a UKIDSS-like file: four ZPN detectors in one FITS file", () => {
  it("cuts each target from the detector that contains it (ZPN world -> pixel), none for the gaps", async () => {
    const mef = readFileSync(join(import.meta.dirname, "../../fixtures/wcs/mef.fits"));
    const probes = (
      JSON.parse(readFileSync(join(import.meta.dirname, "../../fixtures/wcs/mef.json"), "utf8")) as {
        positions: Array<{ ra: number; dec: number; hduIndex: number | null; margin: number | null }>;
      }
    ).positions.filter((p) => p.hduIndex === null || (p.margin ?? 0) >= 4); // a 4-px stamp fits
    const server = createServer((req, res) => {
      const u = new URL(req.url ?? "/", "http://x");
      if (u.pathname === "/img/w20051017_00123_st.fit") {
        res.writeHead(200, { "content-length": mef.length }).end(mef);
        return;
      }
      // SIA 1 with only the required columns: no WCS, so the one image is taken as it comes.
      const row = `<TR><TD>WFCAM multiframe</TD><TD>53.1</TD><TD>-27.8</TD><TD>2</TD><TD>72 72</TD><TD>0.00333 0.00333</TD><TD>image/fits</TD><TD>http://${req.headers.host}/img/w20051017_00123_st.fit</TD></TR>`;
      res.writeHead(200, { "content-type": "text/xml" }).end(`<?xml version="1.0"?>
<VOTABLE version="1.1"><RESOURCE><INFO name="QUERY_STATUS" value="OK"/><TABLE>
<FIELD name="t" datatype="char" arraysize="*" ucd="VOX:Image_Title"/><FIELD name="ra" datatype="double" ucd="POS_EQ_RA_MAIN"/>
<FIELD name="dec" datatype="double" ucd="POS_EQ_DEC_MAIN"/><FIELD name="n" datatype="int" ucd="VOX:Image_Naxes"/>
<FIELD name="naxis" datatype="int" arraysize="*" ucd="VOX:Image_Naxis"/><FIELD name="s" datatype="double" arraysize="*" ucd="VOX:Image_Scale"/>
<FIELD name="f" datatype="char" arraysize="*" ucd="VOX:Image_Format"/><FIELD name="u" datatype="char" arraysize="*" ucd="VOX:Image_AccessReference"/>
<DATA><TABLEDATA>${row}</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>`);
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const port = (server.address() as AddressInfo).port;
    try {
      const cat = join(tmp.dir, "wfcam.csv");
      writeFileSync(cat, ["id,ra,dec", ...probes.map((p, i) => `p${i},${p.ra},${p.dec}`)].join("\n"));
      const out = join(tmp.dir, "out");
      const r = await runCli([
        "run",
        cat,
        "--out",
        out,
        "--sia",
        `http://127.0.0.1:${port}/sia`,
        "--sia-version",
        "1",
        "--size",
        "4",
        "--pixscale",
        "0.4",
        "--rate",
        "500",
        "--quiet",
      ]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      probes.forEach((p, i) => {
        const path = join(out, "image", `p${i}.fits`);
        if (p.hduIndex === null) {
          expect(existsSync(path)).toBe(false);
          return;
        }
        const s = readImage(readFileSync(path));
        // Every pixel of detector k holds k: the stamp came from the detector astropy says contains it.
        expect([...s.data].every((v) => v === p.hduIndex)).toBe(true);
        expect(s.header.getNumber("VOHDU")).toBe(p.hduIndex);
        expect(s.header.getString("CTYPE1")).toBe("RA---ZPN");
      });
    } finally {
      server.close();
    }
  }, 60_000);
});

describe("--sia --sia-version 2: ObsCore answers, DataLink (behind a 302), SODA cutouts", () => {
  const bands = ["--band", "J=1.1e-6:1.4e-6,H=1.5e-6:1.8e-6"];
  /** `vocut run` of the test catalog against the SIA 2 service, J and H by wavelength. */
  const sia2Run = (out: string) => [
    "run",
    catalog(),
    "--out",
    out,
    "--sia",
    `${sia?.base}/sia2`,
    ...bands,
    ...common,
  ];

  it("asks SODA for a circle covering each stamp and cuts it to the exact size: the same pixels as from whole images", async () => {
    sia = await startSia(IMAGES);
    sia.faults.set("/soda", ["503"]); // ServiceUnavailable once: retried
    const out = join(tmp.dir, "out");
    const r = await runCli(sia2Run(out));
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    for (const band of ["J", "H"] as const) {
      checkStamp(join(out, band, "inA.fits"), byName(`fieldA_${band}`), ...IN_A);
      checkStamp(join(out, band, "overlap.fits"), byName(`fieldB_${band}`), ...OVERLAP);
      checkStamp(join(out, band, "edge.fits"), byName(`fieldA_${band}`), ...EDGE);
    }
    const st = await statusOf(out);
    expect(st.byState).toMatchObject({ done: 6, no_coverage: 2 });
    // No whole image was downloaded; one query per target; BAND windows were sent.
    expect([...sia.paths.keys()].filter((p) => p.startsWith("/img/"))).toEqual([]);
    expect(sia.paths.get("/sia2")).toBe(4);
    expect(sia.paths.get("/soda")).toBe(7); // 6 stamps + the 503
    const q = [...sia.hits.keys()].find((k) => k.startsWith("/sia2") && k.includes("150.0121")) as string;
    const sent = new URL(q, sia.base).searchParams.getAll("BAND").map((b) => b.split(" ").map(Number));
    expect(sent).toEqual([
      [1.1e-6, 1.4e-6],
      [1.5e-6, 1.8e-6],
    ]);
    // Each DataLink document read once per job, though several targets share an image.
    for (const img of IMAGES) expect(sia.hits.get(`/links?ID=${img.name}`) ?? 0).toBeLessThanOrEqual(1);
  }, 60_000);

  it("a SODA UsageError (422, text) is a permanent failure of that stamp, not retried", async () => {
    sia = await startSia(IMAGES);
    sia.faults.set("/soda", ["usage"]);
    const out = join(tmp.dir, "out");
    const r = await runCli(sia2Run(out));
    expect(r.code).toBe(4);
    const st = await statusOf(out);
    expect(st.byState).toMatchObject({ done: 5, failed_permanent: 1, no_coverage: 2 });
    expect(st.failures[0]?.code).toBe("SODA_USAGE");
    expect(st.failures[0]?.message).toMatch(/SODA 422: UsageError: CIRCLE radius/);
    expect(sia.paths.get("/soda")).toBe(6);
  }, 60_000);

  it("a hostile DataLink document (entity expansion) fails only the stamps that need it", async () => {
    sia = await startSia(IMAGES);
    sia.faults.set("/links", ["bomb"]);
    const out = join(tmp.dir, "out");
    const r = await runCli(sia2Run(out));
    expect(r.code).toBe(4);
    const st = await statusOf(out);
    expect(st.failures.length).toBeGreaterThan(0);
    for (const f of st.failures) expect(f.message).toMatch(/DOCTYPE|entit/i);
    expect((st.byState.done ?? 0) + (st.byState.failed_permanent ?? 0)).toBe(6);
    expect(st.byState.done).toBeGreaterThan(0);
  }, 60_000);

  it("usage errors: SIA 2 bands need wavelength windows; --sia-version 3; a bad --band", async () => {
    for (const extra of [
      ["--bands", "J"],
      ["--sia-version", "3"],
      ["--band", "J=2:1"],
    ]) {
      const r = await runCli([
        "run",
        catalog(),
        "--out",
        join(tmp.dir, "o"),
        "--sia",
        "http://127.0.0.1:1/sia",
        ...extra,
      ]);
      expect(r.code).toBe(2);
    }
  });
});
