import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { realClock } from "../../src/fetch/clock.js";
import { DEFAULTS } from "../../src/fetch/defaults.js";
import { HostPacer } from "../../src/fetch/host-pacer.js";
import { createHttpClient, type HttpClient } from "../../src/fetch/http-client.js";

let server: Server | undefined;
let client: HttpClient | undefined;
afterEach(async () => {
  await client?.close();
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
});

describe("HostPacer in front of the real HTTP client", () => {
  it("never has more than `concurrency` requests in flight at the server", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let served = 0;
    server = createServer((_req, res) => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      setTimeout(() => {
        inFlight--;
        served++;
        res.end("ok");
      }, 15);
    });
    await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    client = createHttpClient({
      userAgent: "vocut-test",
      timeoutMs: 5_000,
      maxBytes: 1_000,
      maxRedirects: 0,
    });
    const c = client;
    const pacer = new HostPacer(
      { ...DEFAULTS.pacer, concurrency: 3, ratePerSec: 10_000, burst: 10_000 },
      realClock,
    );
    const host = new URL(base).host;
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        pacer.schedule(host, async () => {
          const r = await c.get(`${base}/${i}`);
          pacer.report(host, "success");
          return r.status;
        }),
      ),
    );
    expect(results.every((s) => s === 200)).toBe(true);
    expect(served).toBe(30);
    expect(maxInFlight).toBe(3);
  });
});
