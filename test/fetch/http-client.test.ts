import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import {
  createHttpClient,
  FetchError,
  type HttpClient,
  type HttpClientOptions,
} from "../../src/fetch/http-client.js";

const servers: Server[] = [];
let client: HttpClient | undefined;
afterEach(async () => {
  await client?.close();
  client = undefined;
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A real server on 127.0.0.1, port 0; returns its base URL. */
async function serve(handler: Handler): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function makeClient(over: Partial<HttpClientOptions> = {}): HttpClient {
  client = createHttpClient({
    userAgent: "vocut-test/0 (+t@example.org)",
    timeoutMs: 5_000,
    maxBytes: 10_000,
    maxRedirects: 3,
    ...over,
  });
  return client;
}

/** The FetchError a call fails with (fails the test if it resolves or throws something else). */
async function failure(p: Promise<unknown>): Promise<FetchError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(FetchError);
    return err as FetchError;
  }
  throw new Error("expected a failure");
}

/**
 * A body far larger than any limit, written as fast as the socket takes it. Resolves when the client
 * hangs up, with how much was written by then and whether the whole body had been sent.
 */
function endless(res: ServerResponse, total: number): Promise<{ sent: number; finished: boolean }> {
  return new Promise((resolve) => {
    let sent = 0;
    const chunk = Buffer.alloc(16 * 1024, 0x41);
    res.on("close", () => resolve({ sent, finished: res.writableFinished }));
    const pump = (): void => {
      while (!res.destroyed && sent < total) {
        sent += chunk.length;
        if (sent >= total) return void res.end(chunk);
        if (!res.write(chunk)) return void res.once("drain", pump);
      }
    };
    pump();
  });
}

describe("http client (undici request on one keep-alive Agent)", () => {
  it("GETs a 200 body with our User-Agent and without asking for compression", async () => {
    let seen: IncomingMessage["headers"] = {};
    const base = await serve((req, res) => {
      seen = req.headers;
      res.writeHead(200, { "content-type": "application/fits", "x-multi": ["a", "b"] }).end("hello");
    });
    const r = await makeClient().get(`${base}/x?y=1`);
    expect(r).toMatchObject({ url: `${base}/x?y=1`, status: 200 });
    expect(r.body.toString()).toBe("hello");
    expect(r.headers["content-type"]).toBe("application/fits");
    expect(seen["user-agent"]).toBe("vocut-test/0 (+t@example.org)");
    expect(seen["accept-encoding"]).toBe("identity");
  });

  it("stamps each answer with the injected clock's time (a Retry-After date is read against it)", async () => {
    const base = await serve((_req, res) => res.writeHead(503, { "retry-after": "5" }).end("busy"));
    const at = Date.UTC(2030, 0, 1);
    const clock = { now: () => at, sleep: async () => {} };
    const r = await makeClient({ clock }).get(`${base}/busy`);
    expect(r).toMatchObject({ status: 503, receivedAtMs: at });
  });

  it("resolves for error statuses, keeping only the first 64 KiB of an error page", async () => {
    const base = await serve((req, res) => {
      if (req.url === "/404")
        res.writeHead(404, { "content-type": "application/json" }).end('{"title":"no"}');
      else res.writeHead(503, { "retry-after": "7" }).end(Buffer.alloc(1_000_000, 0x20));
    });
    const c = makeClient();
    const nf = await c.get(`${base}/404`);
    expect([nf.status, nf.body.toString()]).toEqual([404, '{"title":"no"}']);
    const busy = await c.get(`${base}/503`);
    expect(busy.status).toBe(503);
    expect(busy.headers["retry-after"]).toBe("7");
    expect(busy.body.length).toBe(64 * 1024);
  });

  it("reuses one socket for 20 sequential requests (keep-alive)", async () => {
    const sockets = new Set<Socket>();
    const base = await serve((req, res) => {
      sockets.add(req.socket);
      res.end(`ok ${req.url}`);
    });
    const c = makeClient();
    for (let i = 0; i < 20; i++) expect((await c.get(`${base}/${i}`)).body.toString()).toBe(`ok /${i}`);
    expect(sockets.size).toBe(1);
  });

  it("follows a redirect chain (301, 302, 303, 307, 308; relative and absolute) and reports the final URL", async () => {
    const hops: string[] = [];
    const base = await serve((req, res) => {
      hops.push(req.url ?? "");
      const to: Record<string, string> = {
        "/a": `http://${req.headers.host}/b`,
        "/b": "c", // relative to /b
        "/c": "/d/e?x=1",
        "/d/e?x=1": "../f",
      };
      const next = to[req.url ?? ""];
      const status = [301, 302, 303, 307, 308][hops.length % 5] as number;
      if (next !== undefined) res.writeHead(status, { location: next }).end("moved");
      else res.end(`at ${req.url}`);
    });
    const r = await makeClient({ maxRedirects: 4 }).get(`${base}/a`);
    expect(r.body.toString()).toBe("at /f");
    expect(r.url).toBe(`${base}/f`);
    expect(hops).toEqual(["/a", "/b", "/c", "/d/e?x=1", "/f"]);
  });

  it("follows a redirect to another host and reports where it ended", async () => {
    const other = await serve((_req, res) => res.end("elsewhere"));
    const base = await serve((_req, res) => res.writeHead(302, { location: `${other}/data` }).end());
    const r = await makeClient().get(`${base}/x`);
    expect([r.url, r.body.toString()]).toEqual([`${other}/data`, "elsewhere"]);
  });

  it("stops redirect loops and over-long chains with TOO_MANY_REDIRECTS, refuses non-HTTP targets", async () => {
    const base = await serve((req, res) => {
      const u = req.url ?? "";
      if (u === "/loop1") res.writeHead(302, { location: "/loop2" }).end();
      else if (u === "/loop2") res.writeHead(302, { location: "/loop1" }).end();
      else if (u === "/self") res.writeHead(307, { location: "/self" }).end();
      else if (u.startsWith("/chain") && Number(u.slice(6)) < 4)
        res.writeHead(302, { location: `/chain${Number(u.slice(6)) + 1}` }).end();
      else if (u === "/ftp") res.writeHead(302, { location: "ftp://example.org/x" }).end();
      else if (u === "/nolocation") res.writeHead(302).end("no location");
      else res.end("end");
    });
    const c = makeClient({ maxRedirects: 3 });
    for (const path of ["/loop1", "/self", "/chain0"]) {
      const e = await failure(c.get(`${base}${path}`));
      expect([path, e.code, e.retryable]).toEqual([path, "TOO_MANY_REDIRECTS", false]);
    }
    expect((await c.get(`${base}/chain1`)).body.toString()).toBe("end"); // 1 -> 2 -> 3 -> 4: exactly 3 hops is fine
    expect((await failure(c.get(`${base}/ftp`))).code).toBe("BAD_URL");
    expect((await c.get(`${base}/nolocation`)).status).toBe(302);
  });

  it("refuses a body over maxBytes declared in Content-Length, hanging up before it is sent", async () => {
    let served: Promise<{ sent: number; finished: boolean }> | undefined;
    const base = await serve((_req, res) => {
      res.writeHead(200, { "content-length": String(50_000_000) });
      served = endless(res, 50_000_000);
    });
    const e = await failure(makeClient().get(`${base}/big`));
    expect([e.code, e.retryable]).toEqual(["TOO_LARGE", false]);
    const s = await served;
    expect(s?.finished).toBe(false);
    expect(s?.sent).toBeLessThan(50_000_000);
  });

  it("refuses an undeclared (chunked) or understated body once it passes maxBytes, hanging up early", async () => {
    const served: Array<Promise<{ sent: number; finished: boolean }>> = [];
    const base = await serve((req, res) => {
      // "/lying" declares 5000 bytes and sends 50 MB: undici stops at the declared length (seen: 5000)
      if (req.url === "/lying") res.writeHead(200, { "content-length": "5000" });
      else res.writeHead(200);
      served.push(endless(res, 50_000_000));
    });
    const c = makeClient();
    const e = await failure(c.get(`${base}/chunked`));
    expect([e.code, e.retryable]).toEqual(["TOO_LARGE", false]);
    const s = await served[0];
    expect(s?.finished).toBe(false);
    expect(s?.sent).toBeLessThan(50_000_000);
    // A server that declares less than it sends never gets more than it declared into our memory.
    const lying = await c.get(`${base}/lying`).then(
      (r) => r.body.length,
      (err: FetchError) => err.code,
    );
    expect([5000, "CONNECTION", "TRUNCATED"]).toContain(lying);
  });

  it("detects a truncated body (Content-Length 10000, 100 sent, then closed) as TRUNCATED, retryable", async () => {
    const base = await serve((req, res) => {
      res.writeHead(200, { "content-length": "10000" });
      res.write(Buffer.alloc(100), () => {
        if (req.url === "/rst") req.socket.resetAndDestroy();
        else req.socket.destroy();
      });
    });
    const c = makeClient();
    for (const path of ["/close", "/rst"]) {
      const e = await failure(c.get(`${base}${path}`));
      expect([path, e.code, e.retryable]).toEqual([path, "TRUNCATED", true]);
    }
  });

  it("a large body of declared length arrives byte-exact in one buffer; cut short it is TRUNCATED; overstated never overfills", async () => {
    const big = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
    const served: Array<Promise<{ sent: number; finished: boolean }>> = [];
    const base = await serve((req, res) => {
      if (req.url === "/lying") {
        res.writeHead(200, { "content-length": String(1024 * 1024) });
        served.push(endless(res, 50_000_000));
        return;
      }
      res.writeHead(200, { "content-length": String(big.length) });
      // Many small writes, so the client sees many chunks.
      const end = req.url === "/short" ? big.length / 3 : big.length;
      let at = 0;
      const pump = (): void => {
        while (at < end) {
          const next = Math.min(at + 16_384, end);
          const more = res.write(big.subarray(at, next));
          at = next;
          if (!more) {
            res.once("drain", pump);
            return;
          }
        }
        if (req.url === "/short") req.socket.destroy();
        else res.end();
      };
      pump();
    });
    const c = makeClient({ maxBytes: 64 * 1024 * 1024 });
    const r = await c.get(`${base}/whole`);
    expect(r.body.length).toBe(big.length);
    expect(r.body.equals(big)).toBe(true);
    const e = await failure(c.get(`${base}/short`));
    expect([e.code, e.retryable]).toEqual(["TRUNCATED", true]);
    const lying = await c.get(`${base}/lying`).then(
      (res) => res.body.length,
      (err: FetchError) => err.code,
    );
    expect([1024 * 1024, "CONNECTION", "TRUNCATED"]).toContain(lying);
  });

  it("detects a chunked body that ends without its last chunk as TRUNCATED", async () => {
    const base = await serve((req, res) => {
      res.writeHead(200);
      res.write(Buffer.alloc(100), () => req.socket.destroy());
    });
    const e = await failure(makeClient().get(`${base}/x`));
    expect([e.code, e.retryable]).toEqual(["TRUNCATED", true]);
  });

  it("reports a reset or refused connection as CONNECTION, retryable", async () => {
    const base = await serve((req) => req.socket.resetAndDestroy());
    const c = makeClient();
    const reset = await failure(c.get(`${base}/x`));
    expect([reset.code, reset.retryable]).toEqual(["CONNECTION", true]);
    expect(reset.message).toMatch(/ECONNRESET|UND_ERR_SOCKET/);
    // a port nobody listens on: open a server, note its port, close it
    const gone = await serve(() => {});
    const s = servers.pop() as Server;
    await new Promise<void>((r) => s.close(() => r()));
    const refused = await failure(c.get(`${gone}/x`));
    expect([refused.code, refused.retryable]).toEqual(["CONNECTION", true]);
    expect(refused.message).toMatch(/ECONNREFUSED/);
  });

  it("times out a server that never answers, and one that stalls mid-body, within timeoutMs", async () => {
    const base = await serve((req, res) => {
      if (req.url === "/body") {
        res.writeHead(200, { "content-length": "1000" });
        res.write(Buffer.alloc(10));
      }
      // else: never answer
    });
    const c = makeClient({ timeoutMs: 300 });
    for (const path of ["/headers", "/body"]) {
      const t0 = performance.now();
      const e = await failure(c.get(`${base}${path}`));
      const elapsed = performance.now() - t0;
      expect([path, e.code, e.retryable]).toEqual([path, "TIMEOUT", true]);
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(3_000);
    }
  });

  it("the timeout covers the whole exchange, not each redirect hop", async () => {
    const base = await serve((req, res) => {
      const n = Number(req.url?.slice(1));
      setTimeout(() => res.writeHead(302, { location: `/${n + 1}` }).end(), 150);
    });
    const e = await failure(makeClient({ timeoutMs: 400, maxRedirects: 10 }).get(`${base}/0`));
    expect(e.code).toBe("TIMEOUT");
  });

  it("turns the caller's abort into ABORTED and rejects bad URLs", async () => {
    const base = await serve(() => {});
    const c = makeClient();
    const ac = new AbortController();
    const p = c.get(`${base}/x`, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    const e = await failure(p);
    expect([e.code, e.retryable]).toEqual(["ABORTED", true]);
    expect((await failure(c.get(`${base}/x`, { signal: AbortSignal.abort() }))).code).toBe("ABORTED");
    expect((await failure(c.get("not a url"))).code).toBe("BAD_URL");
    expect((await failure(c.get("ftp://example.org/x"))).code).toBe("BAD_URL");
  });

  it("validates its options", () => {
    const ok: HttpClientOptions = { userAgent: "x", timeoutMs: 1, maxBytes: 1, maxRedirects: 0 };
    expect(() => createHttpClient({ ...ok, timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(() => createHttpClient({ ...ok, maxRedirects: -1 })).toThrow(/maxRedirects/);
    expect(() => createHttpClient({ ...ok, userAgent: "" })).toThrow(TypeError);
  });
});

describe("http client, file:// URLs", () => {
  it("reads a file (200), answers 404 for a missing file or a folder, refuses encoded slashes and big files", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vocut-fetch-"));
    try {
      writeFileSync(join(dir, "a.fits"), "data");
      writeFileSync(join(dir, "big.fits"), Buffer.alloc(20_000));
      mkdirSync(join(dir, "sub"));
      const c = makeClient();
      const url = pathToFileURL(join(dir, "a.fits")).href;
      const ok = await c.get(url);
      expect([ok.url, ok.status, ok.body.toString()]).toEqual([url, 200, "data"]);
      expect((await c.get(pathToFileURL(join(dir, "none.fits")).href)).status).toBe(404);
      expect((await c.get(pathToFileURL(join(dir, "sub")).href)).status).toBe(404);
      expect((await c.get(`${pathToFileURL(join(dir, "a.fits", "x")).href}`)).status).toBe(404);
      expect((await failure(c.get(`${pathToFileURL(dir).href}/..%2F..%2Fetc%2Fpasswd`))).code).toBe(
        "BAD_URL",
      );
      expect((await failure(c.get(pathToFileURL(join(dir, "big.fits")).href))).code).toBe("TOO_LARGE");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
