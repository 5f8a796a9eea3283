import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setImmediate as turn } from "node:timers/promises";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { VirtualClock } from "../../src/fetch/clock.js";
import { createHttpClient, type HttpClient } from "../../src/fetch/http-client.js";
import type { TapQuery } from "../../src/sources/products/products-source.js";
import {
  deleteUwsJob,
  pendingJob,
  runAsyncTapQuery,
  type UwsJobStore,
} from "../../src/sources/products/uws.js";
import { parseVotable } from "../../src/votable/votable.js";
import { listFiles, runCli, startCli, tempDir } from "../helpers/cli.js";
import { type ArchiveProduct, type ArchiveServer, startArchive } from "../helpers/tap-server.js";

const FIX = join(import.meta.dirname, "../../fixtures/fits/astropy");
const TABLE = readFileSync(join(FIX, "table.fits"));
const IMAGE16 = readFileSync(join(FIX, "bitpix16.fits"));
const QUERY = "SELECT * FROM ivoa.obscore WHERE obs_collection = 'HARPS'";

const PRODUCTS: ArchiveProduct[] = [
  { did: "ivo://eso.org/ID?ADP.1", obsId: "ADP.1", access: "/files/1.fits", format: "application/fits" },
  { did: "ivo://eso.org/ID?ADP.2", obsId: "ADP.2", access: "/files/2.fits", format: "application/fits" },
  { did: "ivo://eso.org/ID?OTHER", access: "/files/1.fits", format: "application/fits", collection: "UVES" },
];
const FILES = new Map([
  ["/files/1.fits", TABLE],
  ["/files/2.fits", IMAGE16],
]);

let tmp: ReturnType<typeof tempDir>;
let archive: ArchiveServer | undefined;
let client: HttpClient | undefined;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(async () => {
  await client?.close();
  client = undefined;
  await archive?.close();
  archive = undefined;
  tmp.cleanup();
});

function memoryStore(): UwsJobStore & { url: string | undefined; sets: number } {
  const s = {
    url: undefined as string | undefined,
    sets: 0,
    get: () => s.url,
    set: (u: string) => {
      s.url = u;
      s.sets++;
    },
    clear: () => {
      s.url = undefined;
    },
  };
  return s;
}

/**
 * Drive simulated time: whenever someone waits on the clock (the client's backoff, the server's WAIT),
 * move it on by a second; while an exchange is on the wire, let real I/O run. No real sleeping.
 */
async function drive<T>(clock: VirtualClock, work: Promise<T>): Promise<T> {
  let settled = false;
  const done = work.finally(() => {
    settled = true;
  });
  done.catch(() => {});
  while (!settled) {
    if (clock.pendingTimers > 0) await clock.advance(1_000);
    else await turn();
  }
  return done;
}

async function rowsOf(body: Buffer): Promise<unknown[][]> {
  const t = await parseVotable(body);
  const rows: unknown[][] = [];
  for await (const r of t.rows) rows.push(r.values as unknown[]);
  return rows;
}

function asyncArgs(tap: string, out: string, ...extra: string[]): string[] {
  return ["obscore", "--tap", tap, "--query", QUERY, "--async", "--out", out, "--rate", "200", ...extra];
}

describe("async TAP (UWS 1.1) in simulated time", () => {
  it("creates one job through DaCHS's 303, polls with a bounded WAIT, survives a dropped poll, reads the result, deletes without following the redirect", async () => {
    const clock = new VirtualClock(1_000_000);
    archive = await startArchive({ products: PRODUCTS, files: FILES, clock, jobMs: 95_000 });
    client = createHttpClient({ userAgent: "t", timeoutMs: 20_000, maxBytes: 1e7, maxRedirects: 5 });
    archive.uws.pollFaults.push("", "reset"); // the second poll loses its connection
    const store = memoryStore();
    const q: TapQuery = { tap: archive.tap, adql: QUERY };
    const r = await drive(
      clock,
      runAsyncTapQuery(client, q, store, {
        clock,
        signal: new AbortController().signal,
        retries: 3,
        waitSec: 30,
        budgetMs: 3_600_000,
        random: () => 0.5,
      }),
    );
    expect(archive.uws.created()).toBe(1);
    expect(store.sets).toBe(1);
    expect(r.jobUrl).toBe(`${archive.base}/__system__/tap/run/async/j1`);
    expect(store.url).toBe(r.jobUrl);
    const job = archive.uws.jobs.get("j1");
    expect(job?.form.get("PHASE")).toBe("RUN");
    expect(job?.form.get("QUERY")).toBe(QUERY);
    // 95 s of execution with WAIT=30: four blocking polls, the first read, one dropped; not a hundred.
    expect(job?.waits).toBeGreaterThanOrEqual(3);
    expect(job?.polls).toBeLessThanOrEqual(8);
    expect(r.polls).toBeLessThanOrEqual(7);
    expect(clock.now() - 1_000_000).toBeGreaterThanOrEqual(95_000);
    const rows = await rowsOf(r.body);
    expect(rows.map((x) => x[0])).toEqual(["ivo://eso.org/ID?ADP.1", "ivo://eso.org/ID?ADP.2"]);

    expect(await deleteUwsJob(client, r.jobUrl, new AbortController().signal, q.tap)).toBeUndefined();
    expect(archive.uws.deletes.n).toBe(1);
    expect(archive.uws.listGets.n).toBe(0); // the 303 to the job list was not followed
    expect(archive.uws.jobs.get("j1")?.deleted).toBe(true);
  });

  it("resumes the stored job instead of creating another; a job that outlasts the budget is kept (exit 5)", async () => {
    const clock = new VirtualClock();
    archive = await startArchive({ products: PRODUCTS, files: FILES, clock, jobMs: 10 * 3_600_000 });
    client = createHttpClient({ userAgent: "t", timeoutMs: 20_000, maxBytes: 1e7, maxRedirects: 5 });
    const store = memoryStore();
    const q: TapQuery = { tap: archive.tap, adql: QUERY };
    const options = {
      clock,
      signal: new AbortController().signal,
      retries: 2,
      waitSec: 30,
      budgetMs: 120_000,
    };
    const first = drive(clock, runAsyncTapQuery(client, q, store, options));
    await expect(first).rejects.toMatchObject({ code: "TAP_WAITING", exitCode: 5 });
    await expect(first).rejects.toThrow(/still EXECUTING after 120 s; it is kept in the ledger/);
    expect(store.url).toBe(`${archive.base}/__system__/tap/run/async/j1`);
    const polls = archive.uws.jobs.get("j1")?.polls ?? 0;
    expect(polls).toBeLessThanOrEqual(6); // 120 s / WAIT 30 s, plus the first read

    const second = drive(clock, runAsyncTapQuery(client, q, store, options));
    await expect(second).rejects.toMatchObject({ code: "TAP_WAITING" });
    expect(archive.uws.created()).toBe(1);
    expect(archive.uws.jobs.get("j1")?.polls).toBeGreaterThan(polls);
  });

  it("a server that ignores WAIT is not hammered: polls back off (pyvo #440 saw 75-100 polls in 1.5 s)", async () => {
    const clock = new VirtualClock();
    archive = await startArchive({
      products: PRODUCTS,
      files: FILES,
      clock,
      jobMs: 300_000,
      ignoreWait: true,
    });
    client = createHttpClient({ userAgent: "t", timeoutMs: 20_000, maxBytes: 1e7, maxRedirects: 5 });
    const r = await drive(
      clock,
      runAsyncTapQuery(client, { tap: archive.tap, adql: QUERY }, memoryStore(), {
        clock,
        signal: new AbortController().signal,
        retries: 2,
        waitSec: 30,
        budgetMs: 3_600_000,
        random: () => 0.5,
      }),
    );
    // 300 s of execution: backoffs of 0.75, 1.5, 3, ... 45 s (cap 60 s, equal jitter) = 13 polls, not thousands.
    expect(archive.uws.jobs.get("j1")?.waits).toBe(0);
    expect(r.polls).toBeLessThanOrEqual(14);
    expect(r.polls).toBeGreaterThanOrEqual(8);
    expect((await rowsOf(r.body)).length).toBe(2);
  });

  it("a service that leaves a new job PENDING: the client starts it with POST phase=RUN", async () => {
    const clock = new VirtualClock();
    archive = await startArchive({
      products: PRODUCTS,
      files: FILES,
      clock,
      jobMs: 10_000,
      ignoreRunOnCreate: true,
    });
    client = createHttpClient({ userAgent: "t", timeoutMs: 20_000, maxBytes: 1e7, maxRedirects: 5 });
    const r = await drive(
      clock,
      runAsyncTapQuery(client, { tap: archive.tap, adql: QUERY }, memoryStore(), {
        clock,
        signal: new AbortController().signal,
        retries: 2,
        waitSec: 30,
        budgetMs: 600_000,
      }),
    );
    expect(archive.uws.jobs.get("j1")?.startedAt).toBeDefined();
    expect((await rowsOf(r.body)).length).toBe(2);
    expect(archive.uws.created()).toBe(1);
  });

  it("a job in ERROR: exit 3 with the service's error summary, the job deleted and forgotten", async () => {
    const clock = new VirtualClock();
    archive = await startArchive({ products: PRODUCTS, files: FILES, clock, jobMs: 5_000 });
    client = createHttpClient({ userAgent: "t", timeoutMs: 20_000, maxBytes: 1e7, maxRedirects: 5 });
    archive.uws.failNext("Field query: Column access_estsizes is not in any table");
    const store = memoryStore();
    const run = drive(
      clock,
      runAsyncTapQuery(client, { tap: archive.tap, adql: QUERY }, store, {
        clock,
        signal: new AbortController().signal,
        retries: 2,
        waitSec: 30,
        budgetMs: 600_000,
      }),
    );
    await expect(run).rejects.toMatchObject({ code: "TAP_QUERY", exitCode: 3 });
    await expect(run).rejects.toThrow(
      /ended in ERROR: Field query: Column access_estsizes is not in any table/,
    );
    expect(store.url).toBeUndefined();
    expect(archive.uws.deletes.n).toBe(1);
    expect(archive.uws.listGets.n).toBe(0);
  });

  it("a service that keeps dropping the connection: exit 5 after --retries, the job kept for the next run", async () => {
    const clock = new VirtualClock();
    archive = await startArchive({ products: PRODUCTS, files: FILES, clock, jobMs: 60_000 });
    client = createHttpClient({ userAgent: "t", timeoutMs: 20_000, maxBytes: 1e7, maxRedirects: 5 });
    archive.uws.pollFaults.push("reset", "503", "reset");
    const store = memoryStore();
    const run = drive(
      clock,
      runAsyncTapQuery(client, { tap: archive.tap, adql: QUERY }, store, {
        clock,
        signal: new AbortController().signal,
        retries: 2,
        waitSec: 30,
        budgetMs: 600_000,
      }),
    );
    await expect(run).rejects.toMatchObject({ code: "TAP_FAILED", exitCode: 5 });
    await expect(run).rejects.toThrow(/failed 3 time\(s\) in a row/);
    expect(store.url).toBe(`${archive.base}/__system__/tap/run/async/j1`);
    expect(archive.uws.created()).toBe(1);
  });
});

describe("vocut obscore --async", () => {
  it("a run killed while the job executes: the next run polls the same job (one job in all), downloads byte-exact, deletes the job; a third run asks nothing", async () => {
    // As DaCHS 2.7 does: PHASE=RUN in the creating POST is ignored (the job stays PENDING until
    // POST phase=RUN), job documents come with a stylesheet PI, 303s with HTML bodies.
    archive = await startArchive({ products: PRODUCTS, files: FILES, ignoreRunOnCreate: true });
    const out = join(tmp.dir, "out");
    const args = asyncArgs(archive.tap, out);
    const held = archive.uws.heldPoll();
    const first = startCli(args);
    await held; // vocut is waiting for the job (WAIT) ...
    const jobUrl = `${archive.base}/__system__/tap/run/async/j1`;
    const db = new Database(join(out, "vocut.db"), { readonly: true });
    const meta = db.prepare("SELECT value FROM meta WHERE key = 'tapJob'").get() as { value: string };
    db.close();
    expect(JSON.parse(meta.value).url).toBe(jobUrl); // ... and has put the job in the ledger
    first.child.kill("SIGKILL");
    expect((await first.done).signal).toBe("SIGKILL");
    expect(archive.uws.jobs.get("j1")?.phase).toBe("EXECUTING"); // started by vocut's POST phase=RUN

    archive.uws.complete();
    const polls = archive.uws.jobs.get("j1")?.polls ?? 0;
    const r = await runCli(args);
    expect(r.stderr).not.toMatch(/internal/);
    expect(r.code).toBe(0);
    expect(r.stderr + r.stdout).toMatch(/resuming the TAP job .*j1 \(COMPLETED\)/);
    expect(archive.uws.created()).toBe(1);
    expect(archive.uws.jobs.get("j1")?.polls).toBeGreaterThan(polls);
    expect(readFileSync(join(out, "ADP.1.fits")).equals(TABLE)).toBe(true);
    expect(readFileSync(join(out, "ADP.2.fits")).equals(IMAGE16)).toBe(true);
    expect(listFiles(out).filter((f) => f.endsWith(".fits"))).toHaveLength(2); // UVES was not asked for
    expect(archive.uws.deletes.n).toBe(1);
    expect(archive.uws.listGets.n).toBe(0);

    const served = new Map(archive.served);
    const again = await runCli(args);
    expect(again.code).toBe(0);
    expect(archive.uws.created()).toBe(1);
    expect(archive.served).toEqual(served);
  }, 60_000);

  it("--maxrec: a result cut at MAXREC (OVERFLOW) is reported as for sync queries", async () => {
    archive = await startArchive({ products: PRODUCTS, files: FILES, jobMs: 0 });
    const out = join(tmp.dir, "out");
    const r = await runCli([
      "obscore",
      "--tap",
      archive.tap,
      "--query",
      QUERY,
      "--async",
      "--maxrec",
      "1",
      "--out",
      out,
      "--rate",
      "200",
    ]);
    expect(archive.uws.jobs.get("j1")?.form.get("MAXREC")).toBe("1");
    expect(r.stderr).toMatch(/OVERFLOW.*--maxrec/);
    expect(r.code).toBe(0);
    expect(listFiles(out).filter((f) => f.endsWith(".fits"))).toEqual(["ADP.1.fits"]);
  }, 60_000);

  it("a job that ends in ERROR exits 3 with the service's message", async () => {
    archive = await startArchive({ products: PRODUCTS, files: FILES, jobMs: 0 });
    archive.uws.failNext("Could not parse your query: unexpected token");
    const out = join(tmp.dir, "out");
    const r = await runCli(["obscore", "--tap", archive.tap, "--query", QUERY, "--async", "--out", out]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/ended in ERROR: Could not parse your query: unexpected token/);
  }, 60_000);
});

const TOKEN = "tok-9f2c41d7e0";

describe("vocut status and an async TAP job not finished", () => {
  it("shows the pending job (URL, phase last seen) and exits 5; once the result is stored it is gone", async () => {
    archive = await startArchive({ products: PRODUCTS, files: FILES, ignoreRunOnCreate: true });
    const out = join(tmp.dir, "out");
    const held = archive.uws.heldPoll();
    const first = startCli(asyncArgs(archive.tap, out));
    await held; // vocut waits for the EXECUTING job
    const jobUrl = `${archive.base}/__system__/tap/run/async/j1`;
    const st = await runCli(["status", out]);
    expect(st.code).toBe(5);
    expect(st.stdout).toMatch(
      new RegExp(
        `^async TAP job ${jobUrl}: EXECUTING when last seen \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z \\(\\d+s ago\\); its result is not stored yet`,
        "m",
      ),
    );
    first.child.kill("SIGKILL");
    await first.done;
    const js = await runCli(["status", out, "--json"]);
    expect(js.code).toBe(5);
    expect(JSON.parse(js.stdout).asyncQuery).toMatchObject({ url: jobUrl, phase: "EXECUTING" });

    archive.uws.complete();
    const r = await runCli(asyncArgs(archive.tap, out));
    expect(r.code).toBe(0);
    const after = await runCli(["status", out]);
    expect(after.code).toBe(0);
    expect(after.stdout).not.toMatch(/async TAP job/);
    expect(JSON.parse((await runCli(["status", out, "--json"])).stdout).asyncQuery).toBeNull();
  }, 60_000);

  it("the job's URL is shown without user:password; a record that is not a job is no job", () => {
    expect(
      pendingJob({ url: "https://me:s3cret@tap.example/async/7", query: "q", phase: "QUEUED", at: 5 }),
    ).toEqual({ url: "https://tap.example/async/7", phase: "QUEUED", seenAt: 5 });
    expect(pendingJob({ url: "https://tap.example/async/7", query: "q" })).toEqual({
      url: "https://tap.example/async/7",
    });
    expect(pendingJob(null)).toBeUndefined();
    expect(pendingJob({ query: "q" })).toBeUndefined();
  });
});

describe("--async with --token-env", () => {
  it("sends the bearer token to the TAP host on create, start, poll, result and delete, and to its products", async () => {
    archive = await startArchive({ products: PRODUCTS, files: FILES, jobMs: 0, ignoreRunOnCreate: true });
    const r = await runCli(asyncArgs(archive.tap, join(tmp.dir, "out"), "--token-env", "T"), { T: TOKEN });
    expect(r.code).toBe(0);
    const seen = archive.auth.map(
      (a) => `${a.method} ${a.path.replace(/\?.*/, "")} ${a.authorization ?? "-"}`,
    );
    const job = "/__system__/tap/run/async/j1";
    for (const what of [
      "POST /tap/async",
      `GET ${job}`,
      `POST ${job}/phase`,
      `GET ${job}/results/result`,
      `DELETE ${job}`,
      "GET /files/1.fits",
      "GET /files/2.fits",
    ])
      expect(seen).toContain(`${what} Bearer ${TOKEN}`);
    expect(seen.filter((s) => !s.endsWith(`Bearer ${TOKEN}`))).toEqual([]);
    expect(archive.uws.listGets.n).toBe(0);
  }, 60_000);

  it("never sends it to a job on another origin (the 303's Location), unless --auth-host names that host", async () => {
    archive = await startArchive({
      products: PRODUCTS,
      files: FILES,
      jobMs: 0,
      ignoreRunOnCreate: true,
      jobsElsewhere: true,
    });
    const other = new URL(archive.jobBase ?? "").host;
    const r = await runCli(asyncArgs(archive.tap, join(tmp.dir, "out"), "--token-env", "T"), { T: TOKEN });
    expect(r.code).toBe(0);
    const create = archive.auth.find((a) => a.method === "POST" && a.path === "/tap/async");
    expect(create?.authorization).toBe(`Bearer ${TOKEN}`);
    const toJob = archive.auth.filter((a) => a.host === other);
    // The job document, the start, the polls, the result and the DELETE all went to the other origin.
    expect(toJob.map((a) => a.method).sort()).toEqual(expect.arrayContaining(["DELETE", "GET", "POST"]));
    expect(toJob.some((a) => a.path.endsWith("/results/result"))).toBe(true);
    expect(toJob.filter((a) => a.authorization !== undefined)).toEqual([]);

    archive.auth.length = 0;
    const named = await runCli(
      asyncArgs(archive.tap, join(tmp.dir, "out2"), "--token-env", "T", "--auth-host", other),
      { T: TOKEN },
    );
    expect(named.code).toBe(0);
    const nowToJob = archive.auth.filter((a) => a.host === other);
    expect(nowToJob.length).toBeGreaterThanOrEqual(4);
    expect(nowToJob.every((a) => a.authorization === `Bearer ${TOKEN}`)).toBe(true);
  }, 60_000);
});
