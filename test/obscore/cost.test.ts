import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runCli, tempDir } from "../helpers/cli.js";
import { type ArchiveProduct, type ArchiveServer, startArchive } from "../helpers/tap-server.js";

/**
 * The fixture ObsCore table. Counted by hand:
 *   HARPS spectrum: 4 rows (d1 twice: same access_url), 3 distinct products, 1200 + 300 + 300 + 0 (null) = 1800 kB
 *   HARPS image:    1 row, 1 product, 5000 kB
 *   UVES  spectrum: 2 rows, 2 products, 2000000 + 500000 = 2500000 kB
 *   all:            7 rows, 6 distinct products, 2506800 kB
 */
const PRODUCTS: ArchiveProduct[] = [
  { did: "ivo://x/ID?a", access: "/files/a.fits", format: "application/fits", estsizeKb: 1200 },
  { did: "ivo://x/ID?d1", access: "/files/d.fits", format: "application/fits", estsizeKb: 300 },
  { did: "ivo://x/ID?d2", access: "/files/d.fits", format: "application/fits", estsizeKb: 300 },
  { did: "ivo://x/ID?n", access: "/files/n.fits", format: "application/fits", estsizeKb: null },
  {
    did: "ivo://x/ID?i",
    access: "/files/i.fits",
    format: "application/fits",
    estsizeKb: 5000,
    type: "image",
  },
  {
    did: "ivo://x/ID?u1",
    access: "/files/u1.fits",
    format: "application/fits",
    estsizeKb: 2_000_000,
    collection: "UVES",
  },
  {
    did: "ivo://x/ID?u2",
    access: "/files/u2.fits",
    format: "application/fits",
    estsizeKb: 500_000,
    collection: "UVES",
  },
];

let tmp: ReturnType<typeof tempDir>;
let archive: ArchiveServer | undefined;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(async () => {
  await archive?.close();
  archive = undefined;
  tmp.cleanup();
});

interface CostDoc {
  rows: number;
  products?: number;
  estKb: number;
  groups: Array<{ collection: string; type: string; rows: number; products?: number; estKb: number }>;
  seconds?: number;
}

describe("what it will cost: --describe and --dry-run", () => {
  it("--describe lists collections and product types with counts and sizes equal to a hand count (sync and --async)", async () => {
    archive = await startArchive({ products: PRODUCTS, files: new Map(), jobMs: 0 });
    const sync = await runCli(["obscore", "--tap", archive.tap, "--describe"]);
    expect(sync.code).toBe(0);
    expect(archive.queries[0]?.get("QUERY")).toMatch(/GROUP BY obs_collection, dataproduct_type/);
    const lines = sync.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^collection\s+type\s+rows\s+est\. size$/);
    expect(lines[1]).toMatch(/^HARPS\s+image\s+1\s+5\.00 MB$/);
    expect(lines[2]).toMatch(/^HARPS\s+spectrum\s+4\s+1\.80 MB$/);
    expect(lines[3]).toMatch(/^UVES\s+spectrum\s+2\s+2\.50 GB$/);
    expect(lines[4]).toBe("total: 7 row(s), estimated 2.51 GB (2506800 kB of access_estsize)");

    const viaJob = await runCli(["obscore", "--tap", archive.tap, "--describe", "--async", "--json"]);
    expect(viaJob.code).toBe(0);
    const doc = JSON.parse(viaJob.stdout.trim().split("\n").at(-1) ?? "") as CostDoc;
    expect(doc).toMatchObject({ rows: 7, estKb: 2_506_800 });
    expect(doc.groups).toEqual([
      { collection: "HARPS", type: "image", rows: 1, estKb: 5000 },
      { collection: "HARPS", type: "spectrum", rows: 4, estKb: 1800 },
      { collection: "UVES", type: "spectrum", rows: 2, estKb: 2_500_000 },
    ]);
    expect(archive.uws.created()).toBe(1);
    expect(archive.uws.deletes.n).toBe(1);
    expect(archive.uws.listGets.n).toBe(0);
  }, 60_000);

  it("--dry-run of a query: rows, distinct products, size by collection and type, time at --rate; nothing downloaded or written; a real run prints the same figures", async () => {
    archive = await startArchive({ products: PRODUCTS, files: new Map(), jobMs: 0 });
    const out = join(tmp.dir, "out");
    const q = "SELECT * FROM ivoa.obscore WHERE obs_collection = 'HARPS'";
    const r = await runCli([
      "obscore",
      "--tap",
      archive.tap,
      "--query",
      q,
      "--dry-run",
      "--rate",
      "0.5",
      "--maxrec",
      "3",
      "--out",
      out,
    ]);
    expect(r.code).toBe(0);
    expect(archive.queries[0]?.get("QUERY")).toBe(
      "SELECT p.obs_collection, p.dataproduct_type, SUM(1.0 * p.n) AS n_rows, COUNT(*) AS n_products, " +
        "SUM(p.est_kb) AS est_kb FROM (SELECT q.obs_collection, q.dataproduct_type, q.access_url, " +
        `COUNT(*) AS n, SUM(1.0 * q.access_estsize) AS est_kb FROM (${q}) AS q ` +
        "GROUP BY q.obs_collection, q.dataproduct_type, q.access_url) AS p GROUP BY p.obs_collection, p.dataproduct_type",
    );
    expect(r.stdout).toMatch(/^HARPS\s+image\s+1\s+1\s+5\.00 MB$/m);
    expect(r.stdout).toMatch(/^HARPS\s+spectrum\s+4\s+3\s+1\.80 MB$/m);
    expect(r.stdout).not.toMatch(/UVES/);
    expect(r.stdout).toMatch(
      /^total: 5 row\(s\), 4 distinct product\(s\), estimated 6.80 MB \(6800 kB of access_estsize\)$/m,
    );
    expect(r.stdout).toMatch(/^time at --rate 0.5\/s: 8 s for 4 request\(s\)/m);
    expect(r.stdout).toMatch(/--maxrec 3 cuts the result at 3 of these 5 rows/);
    expect(existsSync(out)).toBe(false);
    // Async: the same figures through a UWS job.
    const a = await runCli([
      "obscore",
      "--tap",
      archive.tap,
      "--query",
      q,
      "--dry-run",
      "--async",
      "--json",
      "--rate",
      "2",
    ]);
    const doc = JSON.parse(a.stdout.trim().split("\n").at(-1) ?? "") as CostDoc;
    expect(doc).toMatchObject({ rows: 5, products: 4, estKb: 6800, seconds: 2 });
    // A real run prints the same figures, counted from the result it plans from (here every product is 404).
    const real = await runCli(["obscore", "--tap", archive.tap, "--query", q, "--out", out, "--rate", "200"]);
    expect(real.code).toBe(4);
    expect(real.stderr).toMatch(/^total: 5 row\(s\), 4 distinct product\(s\), estimated 6.80 MB/m);
  }, 60_000);

  it("the aggregates real DaCHS 2.7 could not serialise (SUM of a bigint, COUNT of access_url) fail on the imitation as they did there; vocut's pass and count the same", async () => {
    archive = await startArchive({ products: PRODUCTS, files: new Map(), jobMs: 0 });
    const ask = async (adql: string) => {
      const res = await fetch(`${archive?.tap}/sync`, {
        method: "POST",
        body: new URLSearchParams({ REQUEST: "doQuery", LANG: "ADQL", QUERY: adql }),
      });
      return { status: res.status, type: res.headers.get("content-type"), text: await res.text() };
    };
    // What scripts/dachs-check.sh saw DaCHS 2.7 answer: 200, text/xml, QUERY_STATUS=ERROR.
    const sum = await ask(
      "SELECT obs_collection, SUM(access_estsize) AS est_kb FROM ivoa.obscore GROUP BY obs_collection",
    );
    expect(sum).toMatchObject({ status: 200, type: "text/xml" });
    expect(sum.text).toMatch(/^<\?xml-stylesheet /);
    expect(sum.text).toContain(
      `<INFO name="QUERY_STATUS" value="ERROR">Field 'est_kb', value '6800.0': required argument is not an integer</INFO>`,
    );
    const distinct = await ask("SELECT COUNT(DISTINCT access_url) AS n FROM ivoa.obscore");
    expect(distinct.text).toContain("'int' object has no attribute 'rfind'");
    // The dry-run aggregate vocut sent before the check against DaCHS (COUNT(DISTINCT access_url)).
    const old = await ask(
      "SELECT q.obs_collection, COUNT(*) AS n_rows, COUNT(DISTINCT q.access_url) AS n_products FROM (SELECT * FROM ivoa.obscore) AS q GROUP BY q.obs_collection",
    );
    expect(old.text).toContain("QUERY_STATUS");
    expect(old.text).toContain("rfind");
    // vocut reads that answer (200, a stylesheet PI, no XML declaration) as a refused query: exit 3.
    const out = join(tmp.dir, "refused");
    const refused = await runCli([
      "obscore",
      "--tap",
      archive.tap,
      "--query",
      "SELECT obs_collection, SUM(access_estsize) AS s FROM ivoa.obscore GROUP BY obs_collection",
      "--out",
      out,
    ]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(
      /the TAP service refused the query: QUERY_STATUS=ERROR: Field 's', value '\d+\.0': required argument is not an integer/,
    );
    expect(existsSync(out)).toBe(false);
    // vocut's own (HARPS sums to 6800 kB: 1200 + 300 + 300 + 5000): served, equal to the hand count above.
    const r = await runCli([
      "obscore",
      "--tap",
      archive.tap,
      "--query",
      "SELECT * FROM ivoa.obscore",
      "--dry-run",
      "--json",
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ rows: 7, products: 6, estKb: 2_506_800 });
    const d = await runCli(["obscore", "--tap", archive.tap, "--describe", "--json"]);
    expect(JSON.parse(d.stdout)).toMatchObject({ rows: 7, estKb: 2_506_800 });
  }, 60_000);

  it("--dry-run of a LIST counts it locally; bad rows are not counted", async () => {
    const list = join(tmp.dir, "list.csv");
    const rows = PRODUCTS.map(
      (p) =>
        `${p.did},http://127.0.0.1:9${p.access},${p.collection ?? "HARPS"},${p.type ?? "spectrum"},${p.estsizeKb ?? ""}`,
    );
    writeFileSync(
      list,
      [
        "obs_publisher_did,access_url,obs_collection,dataproduct_type,access_estsize",
        ...rows,
        "ivo://x/ID?bad,not a url,HARPS,spectrum,1",
      ].join("\n"),
    );
    const r = await runCli(["obscore", list, "--dry-run", "--json", "--rate", "6"]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as CostDoc;
    expect(doc).toMatchObject({ rows: 7, products: 6, estKb: 2_506_800, seconds: 1 });
    expect(doc.groups.map((g) => [g.collection, g.type, g.rows, g.products, g.estKb])).toEqual([
      ["HARPS", "image", 1, 1, 5000],
      ["HARPS", "spectrum", 4, 3, 1800],
      ["UVES", "spectrum", 2, 2, 2_500_000],
    ]);
  }, 60_000);
});
