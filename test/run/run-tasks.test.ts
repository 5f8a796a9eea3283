import { createHash } from "node:crypto";
import { readdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { realClock } from "../../src/fetch/clock.js";
import { DEFAULTS } from "../../src/fetch/defaults.js";
import { HostPacer } from "../../src/fetch/host-pacer.js";
import { createHttpClient, type HttpClient } from "../../src/fetch/http-client.js";
import { validateFits } from "../../src/fits/validate.js";
import { FileStore } from "../../src/output/store.js";
import { AtomicWriter, TEMP_DIR_NAME } from "../../src/output/write-atomic.js";
import { type RunEvent, runTasks } from "../../src/run/run-job.js";
import { listFiles, tempDir, waitFor } from "../helpers/cli.js";
import { CutoutServer, type Fault } from "../helpers/cutout-server.js";
import { plannedHips2fitsJob } from "../helpers/task-rig.js";

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

async function setup(
  n: number,
  fault?: (n: number, q: URLSearchParams, key: string) => Fault | undefined,
  writerOptions: ConstructorParameters<typeof AtomicWriter>[1] = {},
) {
  server = await new CutoutServer(fault ? { fault } : {}).start();
  const { out, writer, ledger, source } = plannedHips2fitsJob(tmp.dir, server.url, n, writerOptions);
  client = createHttpClient({ userAgent: "t", timeoutMs: 2000, maxBytes: 1e6, maxRedirects: 2 });
  const pacer = new HostPacer(
    { ...DEFAULTS.pacer, concurrency: 4, ratePerSec: 1000, burst: 1000, breakerFailures: 1000 },
    realClock,
  );
  const events: RunEvent[] = [];
  const run = (stop = new AbortController(), w = writer) =>
    runTasks(ledger, source, client, pacer, new FileStore(w), realClock, {
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
  return { out, ledger, run, events, writer };
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

  it("with inline writes, records done only once the injected group sync has returned; an HTML 200 is never saved", async () => {
    const syncs: Array<{ tmps: readonly string[]; release: () => void }> = [];
    let syncReturns = false;
    const { out, ledger, run } = await setup(3, (n) => (n === 2 ? { kind: "html200" } : undefined), {
      localDisk: true,
      makeDurable: (tmps) =>
        syncReturns ? Promise.resolve() : new Promise<void>((release) => syncs.push({ tmps, release })),
    });
    const p = run();
    // Every answer written whole to the temp folder, and a sync that has not returned holding the first
    // group (files answered after that group was handed over wait for it: when depends on the machine).
    const temps = () => readdirSync(join(out, TEMP_DIR_NAME)).filter((n) => n.endsWith(".part")).length;
    await waitFor(() => temps() === 6 && syncs.length > 0);
    ledger.flush();
    expect(ledger.counts().byState.done).toBe(0);
    expect(listFiles(out).filter((f) => f.endsWith(".fits"))).toEqual([]);
    syncReturns = true;
    for (const s of syncs) s.release();
    const r = await p;
    expect(r.counts.byState.done).toBe(6);
    const files = listFiles(out).filter((f) => f.endsWith(".fits"));
    expect(files).toHaveLength(6);
    const db = new Database(join(out, "vocut.db"), { readonly: true });
    const rows = db.prepare("SELECT sha256 FROM task ORDER BY seq").all() as Array<{ sha256: string }>;
    db.close();
    for (const f of files) {
      const body = readFileSync(join(out, f));
      expect(validateFits(body).ok).toBe(true);
      expect(rows.map((row) => row.sha256)).toContain(createHash("sha256").update(body).digest("hex"));
    }
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

  it("adopts whole answers a killed run left waiting for their group sync; a short or foreign temp file is asked again", async () => {
    // A group sync that never comes: every answer waits in the temp folder, as at a kill -9 before it.
    const { out, ledger, run, writer } = await setup(3, undefined, {
      makeDurable: () => new Promise(() => {}),
    });
    void run();
    const tempDir = join(out, TEMP_DIR_NAME);
    // Six temp files, none still being written: every answer is whole in the page cache.
    await waitFor(() => readdirSync(tempDir).length === 6 && writer.writingTemp === 0);
    expect(server.requests).toHaveLength(6);
    expect(ledger.counts().byState.running).toBe(6);
    const names = readdirSync(tempDir).sort();
    expect(names).toHaveLength(6);
    for (const name of names) expect(name).toMatch(/^\d+-[0-9a-f]{16}-[0-9a-f]{64}\.part$/);
    // A power cut would have left one short; another run's untagged file; a tag of another job.
    truncateSync(join(tempDir, names[0] as string), 2880);
    writeFileSync(join(tempDir, "4242-7.part"), "partial");
    const foreign = `${names[1]?.split("-")[0]}-0123456789abcdef-${"0".repeat(64)}.part`;
    writeFileSync(join(tempDir, foreign), readFileSync(join(tempDir, names[1] as string)));

    // The next run, as after the kill: a new writer cleans up and the interrupted tasks go back to pending.
    const next = new AtomicWriter(out);
    expect(next.prepare()).toBe(1);
    expect(ledger.requeue({ running: true })).toBe(6);
    const r2 = await run(new AbortController(), next);
    expect(r2.settled.adopted).toBe(5);
    expect(r2.requests).toBe(1);
    expect(server.requests).toHaveLength(7);
    expect(r2.counts.byState.done).toBe(6);
    expect(readdirSync(tempDir)).toEqual([]);
    const db = new Database(join(out, "vocut.db"), { readonly: true });
    const rows = db.prepare("SELECT sha256, bytes FROM task").all() as Array<{
      sha256: string;
      bytes: number;
    }>;
    db.close();
    const files = listFiles(out).filter((f) => f.endsWith(".fits"));
    expect(files).toHaveLength(6);
    const shas = new Set(rows.map((r) => r.sha256));
    for (const f of files) {
      const buf = readFileSync(join(out, f));
      expect(validateFits(buf).ok).toBe(true);
      expect(shas.has(createHash("sha256").update(buf).digest("hex"))).toBe(true);
    }
    ledger.close();
  });
});
