import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { realClock } from "../../src/fetch/clock.js";
import { DEFAULTS } from "../../src/fetch/defaults.js";
import { HostPacer } from "../../src/fetch/host-pacer.js";
import { createHttpClient, type HttpClient } from "../../src/fetch/http-client.js";
import { validateFits } from "../../src/fits/validate.js";
import { Ledger } from "../../src/ledger/ledger.js";
import { AtomicWriter } from "../../src/output/write-atomic.js";
import { type RunEvent, runTasks } from "../../src/run/run-job.js";
import { Hips2fitsSource, parseHipsList } from "../../src/sources/hips2fits.js";
import { listFiles, tempDir } from "../helpers/cli.js";
import { CutoutServer, type Fault } from "../helpers/cutout-server.js";

let tmp: ReturnType<typeof tempDir>;
let server: CutoutServer;
let client: HttpClient;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(async () => {
  await client?.close();
  await server?.stop();
  tmp.cleanup();
});

async function setup(n: number, fault?: (n: number, q: URLSearchParams, key: string) => Fault | undefined) {
  server = await new CutoutServer(fault ? { fault } : {}).start();
  const out = join(tmp.dir, "out");
  const writer = new AtomicWriter(out);
  const ledger = Ledger.open(join(out, "vocut.db"), { create: true, beforeCommit: () => writer.syncDirs() });
  writer.prepare();
  const source = new Hips2fitsSource({
    kind: "hips2fits",
    endpoints: [server.url],
    hips: parseHipsList("X/g,X/r"),
    geometry: { widthPx: 8, heightPx: 8, pixscaleArcsec: 1 },
    projection: "TAN",
    coordsys: "icrs",
    rotationAngleDeg: 0,
  });
  ledger.transaction(() => {
    for (let i = 1; i <= n; i++)
      ledger.addTarget({ row: i, id: `t${i}`, safeId: `t${i}`, raDeg: 10 + i / 100, decDeg: 20 }, 2);
  });
  client = createHttpClient({ userAgent: "t", timeoutMs: 2000, maxBytes: 1e6, maxRedirects: 2 });
  const pacer = new HostPacer(
    { ...DEFAULTS.pacer, concurrency: 4, ratePerSec: 1000, burst: 1000, breakerFailures: 1000 },
    realClock,
  );
  const events: RunEvent[] = [];
  const run = (stop = new AbortController()) =>
    runTasks(ledger, source, client, pacer, writer, realClock, {
      outDir: out,
      layout: "{band}/{id}.fits",
      retries: 3,
      backoffBaseMs: 10,
      backoffCapMs: 50,
      maxInFlight: 6,
      claimBatch: 5,
      onEvent: (e) => events.push(e),
      stopSignal: stop.signal,
      abortSignal: new AbortController().signal,
      random: () => 0.5,
    });
  return { out, ledger, run, events };
}

describe("runTasks", () => {
  it("settles every task: retries transient faults, never saves a bad body, records each outcome", async () => {
    const faults: Record<number, Fault> = {
      1: { kind: "reset" },
      2: { kind: "truncate" },
      3: { kind: "html200" },
      4: { kind: "status", status: 500 },
    };
    const { out, ledger, run, events } = await setup(10, (n) => faults[n]);
    const r = await run();
    expect(r.exitCode).toBe(0);
    expect(r.counts.byState.done).toBe(20);
    expect(r.requests).toBe(24);
    const files = listFiles(out).filter((f) => f.endsWith(".fits"));
    expect(files).toHaveLength(20);
    for (const f of files) expect(validateFits(readFileSync(join(out, f))).ok).toBe(true);
    expect(events.filter((e) => e.type === "task" && e.state === "retry")).toHaveLength(4);
    ledger.close();
  });

  it("pages the ledger: a stop request drains in-flight work and gives the rest back", async () => {
    const { ledger, run } = await setup(50);
    const stop = new AbortController();
    const p = run(stop);
    setTimeout(() => stop.abort(), 30);
    const r = await p;
    expect(r.exitCode).toBe(5);
    const c = ledger.counts().byState;
    expect(c.running).toBe(0);
    expect(c.done + c.pending).toBe(100);
    expect(c.pending).toBeGreaterThan(0);
    ledger.close();
  });

  it("adopts a valid file a killed run had already renamed into place, without a request", async () => {
    const { out, ledger, run } = await setup(2);
    const r1 = await run();
    expect(r1.requests).toBe(4);
    // Simulate a kill after the renames but before the "done" commit: rows still running, files on disk.
    (ledger as unknown as { db: { exec(sql: string): void } }).db.exec("UPDATE task SET state = 'running'");
    expect(ledger.requeue({ running: true })).toBe(4);
    const r2 = await run();
    expect(r2.requests).toBe(0);
    expect(r2.settled.adopted).toBe(4);
    expect(listFiles(out).filter((f) => f.endsWith(".fits"))).toHaveLength(4);
    ledger.close();
  });
});
