import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { createHttpClient } from "../../src/fetch/http-client.js";
import { Ledger } from "../../src/ledger/ledger.js";
import { LEDGER_SCHEMA_VERSION } from "../../src/ledger/schema.js";
import { checkProduct, isDatalink, isFitsFormat, productExt } from "../../src/output/product-formats.js";
import { tempDir } from "../helpers/cli.js";

const FITS = readFileSync(join(import.meta.dirname, "../../fixtures/fits/astropy/bitpix16.fits"));

describe("product formats", () => {
  it("recognises DataLink and FITS MIME types with parameters and in any case", () => {
    expect(isDatalink("application/x-votable+xml;content=datalink")).toBe(true);
    expect(isDatalink('application/x-votable+xml; content="datalink"')).toBe(true);
    expect(isDatalink("application/x-votable+xml")).toBe(false);
    expect(isFitsFormat("application/fits")).toBe(true);
    expect(isFitsFormat("IMAGE/FITS; version=4")).toBe(true);
    expect(isFitsFormat("application/x-fits-bintable")).toBe(true);
    expect(isFitsFormat("text/plain")).toBe(false);
    expect(isFitsFormat("application/benefits")).toBe(false);
  });

  it("chooses extensions from a fixed list: by type, by URL, else .dat; DataLink waits", () => {
    expect(productExt("application/fits", "http://h/a/b.fits")).toBe(".fits");
    expect(productExt("application/fits", "http://h/a/b.fits.gz")).toBe(".fits.gz");
    expect(productExt("image/fits", "http://h/get?id=1")).toBe(".fits");
    expect(productExt("text/plain", "http://h/x")).toBe(".txt");
    expect(productExt(undefined, "http://h/x/spec.FITS")).toBe(".fits");
    expect(productExt(undefined, "http://h/x/a.tar")).toBe(".tar");
    expect(productExt(undefined, "http://h/x/a.exe")).toBe(".dat");
    expect(productExt("application/x-evil/../../x", "http://h/x/a%2F..%2Fb")).toBe(".dat");
    expect(productExt("application/x-votable+xml;content=datalink", "http://h/dl")).toBeUndefined();
  });

  it("checks bodies: FITS must validate (through gzip), nothing may be an HTML page, bombs are refused", () => {
    expect(checkProduct(FITS, ".fits", "application/fits")).toBeUndefined();
    expect(checkProduct(gzipSync(FITS), ".fits", undefined)).toBeUndefined();
    expect(checkProduct(gzipSync(FITS), ".fits.gz", undefined)).toBeUndefined();
    expect(checkProduct(FITS.subarray(0, 2880), ".fits", undefined)).toMatch(/truncat|data|short|bytes/i);
    expect(checkProduct(gzipSync(FITS).subarray(0, 100), ".fits.gz", undefined)).toMatch(
      /gzip data is broken/,
    );
    expect(checkProduct(Buffer.from("<!DOCTYPE html><title>x</title>"), ".txt", undefined)).toMatch(
      /HTML page/,
    );
    expect(checkProduct(Buffer.from("plain words"), ".txt", "text/html; charset=utf-8")).toMatch(/HTML page/);
    expect(checkProduct(Buffer.from("<html>fine</html>"), ".html", "text/html")).toBeUndefined();
    expect(checkProduct(Buffer.alloc(0), ".txt", undefined)).toMatch(/empty/);
    expect(checkProduct(Buffer.from([0, 1, 2, 255]), ".dat", undefined)).toBeUndefined();
    // 640 MiB of zeros in about 640 kB (ten gzip members of 64 MiB): inflating stops at the limit.
    const member = gzipSync(Buffer.alloc(64 * 2 ** 20), { level: 9 });
    const bomb = Buffer.concat(Array.from({ length: 10 }, () => member));
    expect(checkProduct(bomb, ".fits.gz", undefined)).toMatch(/inflates to more than/);
  });
});

describe("HttpClient.postForm", () => {
  it("POSTs a form; 303 goes on as GET, 307 repeats the POST with its body", async () => {
    const seen: string[] = [];
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => {
        body += c.toString();
      });
      req.on("end", () => {
        seen.push(`${req.method} ${req.url} ${req.headers["content-type"] ?? ""} ${body}`);
        if (req.url === "/a") res.writeHead(303, { location: "/result" }).end();
        else if (req.url === "/b") res.writeHead(307, { location: "/again" }).end();
        else res.writeHead(200).end("ok");
      });
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const client = createHttpClient({ userAgent: "t", timeoutMs: 5000, maxBytes: 1000, maxRedirects: 3 });
    try {
      const r1 = await client.postForm(`${base}/a`, { QUERY: "SELECT 1 + 1", LANG: "ADQL" });
      expect(r1.status).toBe(200);
      const r2 = await client.postForm(`${base}/b`, { X: "a&b=c" });
      expect(r2.url).toBe(`${base}/again`);
      expect(seen).toEqual([
        "POST /a application/x-www-form-urlencoded QUERY=SELECT+1+%2B+1&LANG=ADQL",
        "GET /result  ",
        "POST /b application/x-www-form-urlencoded X=a%26b%3Dc",
        "POST /again application/x-www-form-urlencoded X=a%26b%3Dc",
      ]);
      await expect(client.postForm("file:///etc/passwd", {})).rejects.toThrow(/unsupported URL scheme/);
    } finally {
      await client.close();
      server.close();
    }
  });
});

describe("ledger schema migration", () => {
  it("opens a v1 ledger (no product columns, no tar columns) and migrates it to the current version keeping its rows", () => {
    const t = tempDir();
    try {
      const path = join(t.dir, "v1.db");
      const l = Ledger.open(path, { create: true });
      l.transaction(() => l.addTarget({ row: 1, id: "a", safeId: "a", raDeg: 1, decDeg: 2 }, 2));
      l.close();
      const db = new Database(path);
      db.exec(
        "ALTER TABLE target DROP COLUMN url; ALTER TABLE target DROP COLUMN format; " +
          "ALTER TABLE task DROP COLUMN tar_shard; ALTER TABLE task DROP COLUMN tar_offset; PRAGMA user_version = 1",
      );
      db.close();
      const again = Ledger.open(path, { create: false });
      expect(again.counts().total).toBe(2);
      const [task] = again.claim(1);
      expect(task).toMatchObject({ id: "a", raDeg: 1, decDeg: 2, url: null, format: null });
      again.close();
      const check = new Database(path);
      expect(check.pragma("user_version", { simple: true })).toBe(LEDGER_SCHEMA_VERSION);
      // v4 (issue 12): the tar store's columns were added.
      const cols = (check.pragma("table_info(task)") as Array<{ name: string }>).map((c) => c.name);
      expect(cols).toEqual(expect.arrayContaining(["tar_shard", "tar_offset"]));
      check.close();
    } finally {
      t.cleanup();
    }
  });
});
