import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { realClock, VirtualClock } from "../../src/fetch/clock.js";
import { DEFAULTS } from "../../src/fetch/defaults.js";
import { HostPacer } from "../../src/fetch/host-pacer.js";
import { createHttpClient } from "../../src/fetch/http-client.js";
import { Ledger } from "../../src/ledger/ledger.js";
import { FileStore } from "../../src/output/store.js";
import { AtomicWriter } from "../../src/output/write-atomic.js";
import { runTasks } from "../../src/run/run-job.js";
import { ProductsSource } from "../../src/sources/products/products-source.js";
import { tempDir, waitFor } from "../helpers/cli.js";
import { bufferProduct, type ProductServer, startProductServer } from "../helpers/product-server.js";

const MIN = 60_000;
const SPECTRUM = readFileSync(join(import.meta.dirname, "../../fixtures/products/spectrum.fits"));

let tmp: ReturnType<typeof tempDir>;
let server: ProductServer | undefined;
beforeEach(() => {
  tmp = tempDir("vocut-product-stall-");
});
afterEach(async () => {
  await server?.close();
  tmp.cleanup();
});

describe("a long product download is progress for the watchdog (simulated time)", () => {
  it("bytes arriving keep --stall-timeout from firing; a body that stops arriving still trips it", async () => {
    const gates = [0.3, 0.6].map((at) => {
      let release: () => void = () => {};
      const until = new Promise<void>((r) => {
        release = r;
      });
      return { at, until, release };
    });
    server = await startProductServer({ products: new Map([["spectrum.fits", bufferProduct(SPECTRUM)]]) });
    server.pauses.set("/files/spectrum.fits", gates);
    const out = join(tmp.dir, "out");
    const writer = new AtomicWriter(out);
    const ledger = Ledger.open(join(out, "vocut.db"), { create: true });
    writer.prepare();
    const source = new ProductsSource({ kind: "products" });
    ledger.addTarget(
      {
        row: 1,
        id: "s",
        safeId: "s",
        raDeg: Number.NaN,
        decDeg: Number.NaN,
        url: `${server.base}/files/spectrum.fits`,
        format: "application/fits",
      },
      1,
    );
    const client = createHttpClient({ userAgent: "t", timeoutMs: 3_600_000, maxBytes: 1e9, maxRedirects: 2 });
    const pacer = new HostPacer({ ...DEFAULTS.pacer, concurrency: 1, ratePerSec: 100, burst: 1 }, realClock);
    const clock = new VirtualClock(Date.parse("2026-01-01T00:00:00Z"));
    const stalls: number[] = [];
    const stop = new AbortController();
    const p = runTasks(ledger, source, client, pacer, new FileStore(writer), clock, {
      outDir: out,
      layout: "{id}{ext}",
      retries: 0,
      backoffBaseMs: 10,
      backoffCapMs: 50,
      maxInFlight: 2,
      claimBatch: 4,
      onEvent: () => {},
      stopSignal: stop.signal,
      abortSignal: new AbortController().signal,
      stallTimeoutMs: 10 * MIN,
      onStall: (idleMs) => stalls.push(idleMs),
    });
    const part = (): number => {
      const f = readdirSync(writer.tempDir).find((n) => n.endsWith(".dl"));
      return f === undefined ? 0 : statSync(join(writer.tempDir, f)).size;
    };
    // 30% arrives at the start, then nothing for nine minutes.
    await waitFor(() => part() === Math.floor(SPECTRUM.length * 0.3));
    await clock.advance(9 * MIN);
    // Up to 60% arrives at minute nine: progress, although no task settled; minute 18 passes quietly.
    gates[0]?.release();
    await waitFor(() => part() === Math.floor(SPECTRUM.length * 0.6));
    await clock.advance(9 * MIN);
    expect(stalls).toEqual([]);
    // Then nothing more arrives: ten minutes after the last byte the watchdog fires.
    await clock.advance(1 * MIN);
    expect(stalls).toEqual([10 * MIN]);
    gates[1]?.release();
    const r = await p;
    expect(r.stoppedBy).toBe("stall");
    // onStall here only reports (execute() would stop): the product still completes.
    expect(ledger.counts().byState.done).toBe(1);
    const saved = readFileSync(join(out, "s.fits"));
    expect(createHash("sha256").update(saved).digest("hex")).toBe(
      createHash("sha256").update(SPECTRUM).digest("hex"),
    );
    ledger.close();
    await client.close();
  });
});
