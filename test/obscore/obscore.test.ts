import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { listFiles, runCli, tempDir, withFlags } from "../helpers/cli.js";
import {
  type ArchiveProduct,
  type ArchiveServer,
  type DatalinkDoc,
  startArchive,
} from "../helpers/tap-server.js";

const FIX = join(import.meta.dirname, "../../fixtures/fits/astropy");
const TABLE = readFileSync(join(FIX, "table.fits"));
const IMAGE = readFileSync(join(FIX, "bitpix-32.fits"));
const IMAGE16 = readFileSync(join(FIX, "bitpix16.fits"));
const LOG = Buffer.from("HARPS pipeline log\nline 2 \u00e9\n\u0000binary tail\n", "utf8");
const PNG = Buffer.from("89504e470d0a1a0a0000000d49484452", "hex");
const DATALINK = "application/x-votable+xml;content=datalink";

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

const DID = (s: string): string => `ivo://archive.test/ID?${s}`;

/** The archive of the seed's third task in miniature: spectra behind TAP, DataLink and plain links. */
function harps(): { products: ArchiveProduct[]; files: Map<string, Buffer>; datalinks: DatalinkDoc[] } {
  const files = new Map<string, Buffer>([
    ["/files/a.fits", TABLE],
    ["/files/b.fits", IMAGE],
    ["/files/b.png", PNG],
    ["/files/c.txt", LOG],
    ["/files/d.fits.gz", gzipSync(IMAGE16)],
    ["/files/e.fits", IMAGE16],
    ["/files/g.fits", TABLE],
  ]);
  const products: ArchiveProduct[] = [
    {
      did: DID("ADP.2014-09-16T11:03:30.583"),
      access: "/files/a.fits",
      format: "application/fits",
      ra: 10.5,
      dec: -20.25,
    },
    { did: DID("B"), access: "/datalink?ID=B", format: DATALINK, ra: 11, dec: -21 },
    { did: DID("C"), access: "/files/c.txt", format: "text/plain", ra: 12, dec: -22 },
    { did: "../../escape", access: "/files/d.fits.gz", format: "application/fits", ra: 13, dec: -23 },
    { did: DID("E"), access: "/files/e.fits", format: "image/fits", ra: 14, dec: -24 },
    { did: DID("F"), access: "/files/missing.fits", format: "application/fits", ra: 15, dec: -25 },
    { did: DID("G"), access: "/files/g.fits", format: "application/fits", ra: null, dec: null },
  ];
  const datalinks: DatalinkDoc[] = [
    {
      id: "B",
      self: { path: "/files/b.fits", contentType: "application/fits" },
      extra: [{ path: "/files/b.png", semantics: "#preview", contentType: "image/png" }],
    },
  ];
  return { products, files, datalinks };
}

const QUERY = "SELECT * FROM ivoa.ObsCore WHERE obs_collection = 'HARPS'";

function obscoreArgs(a: ArchiveServer, out: string, extra: string[] = []): string[] {
  return [
    "obscore",
    "--tap",
    a.tap,
    "--query",
    QUERY,
    "--out",
    out,
    "--rate",
    "200",
    "--retries",
    "2",
    "--quiet",
    ...extra,
  ];
}

async function statusOf(out: string) {
  return JSON.parse((await runCli(["status", out, "--json"])).stdout) as {
    byState: Record<string, number>;
    failures: Array<{ id: string; code: string; message: string }>;
    notes: string[];
  };
}

describe("vocut obscore: TAP query -> products through the pool, ledger and checks", () => {
  it("queries once, follows DataLink through a 302, keeps every product byte-exact, never saves an HTML page, resumes without asking again", async () => {
    const h = harps();
    archive = await startArchive({ ...h, types: new Map([["/files/c.txt", "text/plain"]]) });
    archive.faults.set("/files/e.fits", ["html"]);
    const out = join(tmp.dir, "out");

    const r = await runCli(obscoreArgs(archive, out));
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(4); // F is 404: failed permanently
    // One TAP query, POSTed as TAP 1.1 asks.
    expect(archive.queries).toHaveLength(1);
    const q = archive.queries[0] as URLSearchParams;
    expect(q.get("REQUEST")).toBe("doQuery");
    expect(q.get("LANG")).toBe("ADQL");
    expect(q.get("QUERY")).toBe(QUERY);
    expect(q.get("RESPONSEFORMAT")).toBe("votable");

    // Named by the last segment of the DID (no obs_id here), as a person would look for them.
    const expectFile = (name: string, ext: string, bytes: Buffer): void => {
      const p = join(out, `${name}${ext}`);
      expect(existsSync(p), p).toBe(true);
      expect(readFileSync(p).equals(bytes), p).toBe(true);
    };
    expectFile("ADP.2014-09-16T11_03_30.583", ".fits", TABLE);
    expectFile("B", ".fits", IMAGE); // the DataLink #this product, not the preview
    expectFile("C", ".txt", LOG);
    expectFile("escape", ".fits.gz", gzipSync(IMAGE16));
    expectFile("E", ".fits", IMAGE16);
    expectFile("G", ".fits", TABLE);
    // The DataLink document went through its 302; the preview was never fetched.
    expect(archive.hits.get("/datalink?ID=B")).toBe(1);
    expect(archive.served.get("/links?ID=B")).toBe(1);
    expect(archive.hits.get("/files/b.png")).toBeUndefined();
    // The HTML page was retried, not saved.
    expect(archive.hits.get("/files/e.fits")).toBe(2);
    const files = listFiles(out);
    for (const f of files) expect(readFileSync(join(out, f)).toString("latin1")).not.toMatch(/<html/i);
    expect(
      files.filter((f) => !f.startsWith("obscore-") && f !== "vocut.db" && !f.startsWith("vocut.db-")),
    ).toHaveLength(6);
    expect(files.some((f) => f.includes(".vocut-tmp/"))).toBe(false);

    const st = await statusOf(out);
    expect(st.byState).toMatchObject({ done: 6, failed_permanent: 1, pending: 0 });
    expect(st.failures).toHaveLength(1);
    expect(st.failures[0]?.id).toBe(DID("F"));
    expect(st.failures[0]?.message).toMatch(/404/);

    // Resume: the stored result is used (no query), nothing done is asked for again.
    const servedBefore = new Map(archive.served);
    const again = await runCli(obscoreArgs(archive, out));
    expect(again.code).toBe(4);
    expect(archive.queries).toHaveLength(1);
    expect(archive.served).toEqual(servedBefore);

    // A changed query is a different job: refused, naming the difference.
    const other = await runCli(obscoreArgs(archive, out).map((a) => (a === QUERY ? `${QUERY} AND 1=1` : a)));
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/adql|query/i);
  }, 60_000);

  it("adopts products a killed run had written (DataLink ones too) without a request", async () => {
    const h = harps();
    archive = await startArchive(h);
    const out = join(tmp.dir, "out");
    expect((await runCli(obscoreArgs(archive, out))).code).toBe(4);
    // As if killed after the renames but before the ledger commit: tasks left running.
    const db = new Database(join(out, "vocut.db"));
    db.exec("UPDATE task SET state = 'running' WHERE state = 'done'");
    db.close();
    const servedBefore = new Map(archive.served);
    const r = await runCli(["fetch", out, "--rate", "200", "--json"]);
    expect(r.code).toBe(4);
    const adopted = r.stdout.split("\n").filter((l) => l.includes('"state":"adopted"'));
    expect(adopted).toHaveLength(6);
    expect(archive.served).toEqual(servedBefore);
  }, 60_000);

  it("reports a result truncated at MAXREC (QUERY_STATUS=OVERFLOW) and plans only what came back", async () => {
    archive = await startArchive(harps());
    const out = join(tmp.dir, "out");
    const r = await runCli([...obscoreArgs(archive, out), "--maxrec", "2"]);
    expect(archive.queries[0]?.get("MAXREC")).toBe("2");
    expect(r.stderr).toMatch(/OVERFLOW.*--maxrec/);
    expect(r.code).toBe(0);
    const st = await statusOf(out);
    expect(st.byState.done).toBe(2);
    expect(st.notes.join(" ")).toMatch(/OVERFLOW/);
    const human = await runCli(["status", out]);
    expect(human.stdout).toMatch(/warning: .*truncated/);
  }, 60_000);

  it("a query the service refuses (QUERY_STATUS=ERROR with 400) exits 3 with the service's message and creates no ledger", async () => {
    archive = await startArchive(harps());
    const out = join(tmp.dir, "out");
    const r = await runCli([
      "obscore",
      "--tap",
      archive.tap,
      "--query",
      "SELECT * FROM nosuch",
      "--out",
      out,
    ]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/refused the query: .*no such table: nosuch in: SELECT \* FROM nosuch/);
    expect(existsSync(join(out, "vocut.db"))).toBe(false);
  });

  it("a TAP service that keeps answering 503 ends with exit 5 and no result file", async () => {
    archive = await startArchive(harps());
    archive.faults.set("/tap/sync", ["503", "503", "503"]);
    const out = join(tmp.dir, "out");
    const r = await runCli(withFlags(obscoreArgs(archive, out), "--retries", "1"));
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/failed 2 time\(s\), last: HTTP 503/);
    expect(existsSync(out) ? listFiles(out).filter((f) => f.startsWith("obscore-")) : []).toEqual([]);
  });

  it("hostile DataLink documents fail their product only: entity bomb, #this with an error, no #this", async () => {
    const bomb = `<?xml version="1.0"?><!DOCTYPE v [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><VOTABLE><RESOURCE><TABLE><FIELD name="access_url" datatype="char" arraysize="*"/><DATA><TABLEDATA><TR><TD>&b;</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>`;
    const h = harps();
    const products: ArchiveProduct[] = [
      ...h.products.slice(0, 1),
      { did: "bomb", access: "/datalink?ID=bomb", format: DATALINK },
      { did: "err", access: "/datalink?ID=err", format: DATALINK },
      { did: "none", access: "/datalink?ID=none", format: DATALINK },
      { did: "local", access: "/datalink?ID=local", format: DATALINK },
      // A TAP result naming a local file is a bad row, never a copy of that file.
      { did: "passwd", access: "file:///etc/passwd", format: "text/plain" },
    ];
    archive = await startArchive({
      products,
      files: h.files,
      datalinks: [
        { id: "bomb", raw: bomb },
        {
          id: "err",
          self: {
            path: "/files/x.fits",
            contentType: "application/fits",
            error: "NotFoundFault: embargoed until 2027",
          },
        },
        { id: "none", extra: [{ path: "/files/b.png", semantics: "#preview", contentType: "image/png" }] },
        {
          id: "local",
          raw: `<?xml version="1.0"?><VOTABLE><RESOURCE><TABLE><FIELD name="access_url" datatype="char" arraysize="*"/><FIELD name="semantics" datatype="char" arraysize="*"/><DATA><TABLEDATA><TR><TD>file:///etc/passwd</TD><TD>#this</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>`,
        },
      ],
    });
    const out = join(tmp.dir, "out");
    const r = await runCli(obscoreArgs(archive, out).filter((x) => x !== "--quiet"));
    expect(r.code).toBe(4);
    const st = await statusOf(out);
    expect(st.byState).toMatchObject({ done: 1, failed_permanent: 4 });
    expect(r.stderr).toMatch(/row 6\): access URL "file:\/\/\/etc\/passwd": file: URLs are not fetched/);
    const byId = new Map(st.failures.map((f) => [f.id, f]));
    expect(byId.get("bomb")?.code).toBe("BAD_DATALINK");
    expect(byId.get("bomb")?.message).toMatch(/DOCTYPE|entit/i);
    expect(byId.get("err")?.code).toBe("DATALINK_ERROR");
    expect(byId.get("err")?.message).toMatch(/embargoed/);
    expect(byId.get("none")?.code).toBe("DATALINK_NO_THIS");
    expect(byId.get("none")?.message).toMatch(/#preview/);
    expect(byId.get("local")?.message).toMatch(/only http\(s\) is followed/);
    expect(listFiles(out).some((f) => f.startsWith("local") || f.startsWith("passwd"))).toBe(false);
    expect(existsSync(join(out, "ADP.2014-09-16T11_03_30.583.fits"))).toBe(true);
  }, 60_000);
});

describe("vocut obscore LIST: a VOTable or CSV of access URLs", () => {
  it("downloads a CSV list, reports bad rows by line and skips them, names files by the id column", async () => {
    const h = harps();
    archive = await startArchive(h);
    const list = join(tmp.dir, "urls.csv");
    writeFileSync(
      list,
      [
        "name,url",
        `spec-a,${archive.base}/files/a.fits`,
        "no-url,",
        "evil,javascript:alert(1)",
        `notes,${archive.base}/files/c.txt`,
        "",
      ].join("\n"),
    );
    const out = join(tmp.dir, "out");
    const listArgs = ["obscore", list, "--url-col", "url", "--id-col", "name", "--rate", "200"];
    const r = await runCli([...listArgs, "--out", out]);
    expect(r.stderr).toMatch(/line 3 \(row 2\): empty access URL/);
    expect(r.stderr).toMatch(
      /line 4 \(row 3\): access URL "javascript:alert\(1\)": javascript: URLs are not fetched/,
    );
    expect(readFileSync(join(out, "spec-a.fits")).equals(TABLE)).toBe(true);
    // No format column: the extension comes from the URL, and the bytes are kept as they are.
    expect(readFileSync(join(out, "notes.txt")).equals(LOG)).toBe(true);
    expect(r.code).toBe(0);
    // --strict makes the bad rows fatal.
    const strict = await runCli([...listArgs, "--out", join(tmp.dir, "o2"), "--strict"]);
    expect(strict.code).toBe(3);
  }, 60_000);

  it("a list without an access URL column is refused (exit 3) naming the columns; export refuses a product job (exit 2)", async () => {
    const list = join(tmp.dir, "l.csv");
    writeFileSync(list, "a,b\n1,2\n");
    const r = await runCli(["obscore", list, "--out", join(tmp.dir, "o")]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/no access URL column .*columns: a, b/);

    archive = await startArchive(harps());
    const out = join(tmp.dir, "out");
    await runCli(obscoreArgs(archive, out, ["--maxrec", "1"]));
    const e = await runCli(["export", out, "--out", join(tmp.dir, "x.npy")]);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(/archive product job/);
  }, 60_000);

  it("usage errors: both a list and --tap, neither, --tap without --query", async () => {
    expect((await runCli(["obscore", "--out", join(tmp.dir, "o")])).code).toBe(2);
    expect(
      (await runCli(["obscore", "x.csv", "--tap", "http://h/tap", "--query", "q", "--out", "o"])).code,
    ).toBe(2);
    const r = await runCli(["obscore", "--tap", "http://127.0.0.1:1/tap", "--out", join(tmp.dir, "o")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--tap and --query go together/);
  });
});
