import { writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { createHttpClient, type FetchError, type HttpClient } from "../../src/fetch/http-client.js";
import { tempDir } from "../helpers/cli.js";

let server: Server | undefined;
let client: HttpClient | undefined;
afterEach(async () => {
  await client?.close();
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
  client = undefined;
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  server = createServer(handler);
  await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function makeClient(over: Partial<Parameters<typeof createHttpClient>[0]> = {}): HttpClient {
  client = createHttpClient({
    userAgent: "vocut-test",
    timeoutMs: 2000,
    maxBytes: 10_000,
    maxRedirects: 3,
    ...over,
  });
  return client;
}

async function failure(p: Promise<unknown>): Promise<FetchError> {
  try {
    await p;
  } catch (err) {
    return err as FetchError;
  }
  throw new Error("expected a failure");
}

describe("http client (undici request on one keep-alive Agent)", () => {
  it("GETs a body, sends our User-Agent and asks for no compression", async () => {
    let seen: IncomingMessage["headers"] = {};
    const base = await serve((req, res) => {
      seen = req.headers;
      res.end("hello");
    });
    const r = await makeClient().get(`${base}/x`);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe("hello");
    expect(seen["user-agent"]).toBe("vocut-test");
    expect(seen["accept-encoding"]).toBe("identity");
  });

  it("reuses one socket for sequential requests (keep-alive)", async () => {
    const sockets = new Set<unknown>();
    const base = await serve((req, res) => {
      sockets.add(req.socket);
      res.end("ok");
    });
    const c = makeClient();
    for (let i = 0; i < 20; i++) await c.get(`${base}/${i}`);
    // undici may open a second socket while the first is being returned to the pool; never one per request.
    expect(sockets.size).toBeLessThanOrEqual(2);
  });

  it("follows relative and absolute redirects, reports the final URL, and stops loops", async () => {
    const base = await serve((req, res) => {
      if (req.url === "/a") res.writeHead(302, { location: "/b" }).end();
      else if (req.url === "/b") res.writeHead(301, { location: `http://${req.headers.host}/c` }).end();
      else if (req.url === "/loop1") res.writeHead(302, { location: "/loop2" }).end();
      else if (req.url === "/loop2") res.writeHead(302, { location: "/loop1" }).end();
      else if (req.url?.startsWith("/chain"))
        res.writeHead(302, { location: `/chain${Number(req.url.slice(6) || 0) + 1}` }).end();
      else res.end(`at ${req.url}`);
    });
    const c = makeClient();
    const r = await c.get(`${base}/a`);
    expect(r.body.toString()).toBe("at /c");
    expect(r.url).toBe(`${base}/c`);
    expect((await failure(c.get(`${base}/loop1`))).code).toBe("TOO_MANY_REDIRECTS");
    expect((await failure(c.get(`${base}/chain0`))).code).toBe("TOO_MANY_REDIRECTS");
  });

  it("refuses bodies over maxBytes, declared or not, and stops reading early", async () => {
    let sentBeforeClose = 0;
    const base = await serve((req, res) => {
      if (req.url === "/declared") {
        res.writeHead(200, { "content-length": "50000000" });
        res.write(Buffer.alloc(1000));
        return;
      }
      // undeclared (chunked) and endless: count what we managed to send before the client hung up
      res.writeHead(200);
      const chunk = Buffer.alloc(4096);
      const pump = (): void => {
        while (!res.destroyed && sentBeforeClose < 50_000_000) {
          sentBeforeClose += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
      };
      res.on("close", () => {});
      pump();
    });
    const c = makeClient();
    const a = await failure(c.get(`${base}/declared`));
    expect(a.code).toBe("TOO_LARGE");
    expect(a.retryable).toBe(false);
    const b = await failure(c.get(`${base}/endless`));
    expect(b.code).toBe("TOO_LARGE");
    expect(sentBeforeClose).toBeLessThan(50_000_000);
  });

  it("detects a truncated body and a reset connection as retryable", async () => {
    const base = await serve((req, res) => {
      if (req.url === "/trunc") {
        res.writeHead(200, { "content-length": "10000" });
        res.write(Buffer.alloc(100));
        setTimeout(() => req.socket.destroy(), 20);
      } else req.socket.destroy();
    });
    const c = makeClient();
    const t = await failure(c.get(`${base}/trunc`));
    expect(t.retryable).toBe(true);
    expect(["TRUNCATED", "UND_ERR_SOCKET"]).toContain(t.code);
    const r = await failure(c.get(`${base}/reset`));
    expect(r.retryable).toBe(true);
  });

  it("times out a stalled server", async () => {
    const base = await serve(() => {});
    const t0 = Date.now();
    const e = await failure(makeClient({ timeoutMs: 300 }).get(`${base}/stall`));
    expect(e.code).toBe("TIMEOUT");
    expect(e.retryable).toBe(true);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it("reads file:// URLs: 200, 404 for missing, and refuses encoded slashes", async () => {
    const tmp = tempDir();
    try {
      writeFileSync(join(tmp.dir, "a.fits"), "data");
      const c = makeClient();
      const ok = await c.get(pathToFileURL(join(tmp.dir, "a.fits")).href);
      expect([ok.status, ok.body.toString()]).toEqual([200, "data"]);
      expect((await c.get(pathToFileURL(join(tmp.dir, "none.fits")).href)).status).toBe(404);
      expect((await failure(c.get(`${pathToFileURL(tmp.dir).href}/..%2F..%2Fetc%2Fpasswd`))).code).toBe(
        "BAD_URL",
      );
    } finally {
      tmp.cleanup();
    }
  });
});
