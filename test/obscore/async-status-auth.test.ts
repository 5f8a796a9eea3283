import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { pendingJob } from "../../src/sources/products/uws.js";
import { runCli, startCli, tempDir } from "../helpers/cli.js";
import { type ArchiveProduct, type ArchiveServer, startArchive } from "../helpers/tap-server.js";

const FIX = join(import.meta.dirname, "../../fixtures/fits/astropy");
const TABLE = readFileSync(join(FIX, "table.fits"));
const IMAGE16 = readFileSync(join(FIX, "bitpix16.fits"));
const QUERY = "SELECT * FROM ivoa.obscore WHERE obs_collection = 'HARPS'";
const PRODUCTS: ArchiveProduct[] = [
  { did: "ivo://eso.org/ID?ADP.1", obsId: "ADP.1", access: "/files/1.fits", format: "application/fits" },
  { did: "ivo://eso.org/ID?ADP.2", obsId: "ADP.2", access: "/files/2.fits", format: "application/fits" },
];
const FILES = new Map([
  ["/files/1.fits", TABLE],
  ["/files/2.fits", IMAGE16],
]);
const TOKEN = "tok-9f2c41d7e0";

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

function args(tap: string, out: string, ...extra: string[]): string[] {
  return ["obscore", "--tap", tap, "--query", QUERY, "--async", "--out", out, "--rate", "200", ...extra];
}

describe("vocut status and an async TAP job not finished", () => {
  it("shows the pending job (URL, phase last seen) and exits 5; once the result is stored it is gone", async () => {
    archive = await startArchive({ products: PRODUCTS, files: FILES, ignoreRunOnCreate: true });
    const out = join(tmp.dir, "out");
    const held = archive.uws.heldPoll();
    const first = startCli(args(archive.tap, out));
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
    const r = await runCli(args(archive.tap, out));
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
    const r = await runCli(args(archive.tap, join(tmp.dir, "out"), "--token-env", "T"), { T: TOKEN });
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
    const r = await runCli(args(archive.tap, join(tmp.dir, "out"), "--token-env", "T"), { T: TOKEN });
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
      args(archive.tap, join(tmp.dir, "out2"), "--token-env", "T", "--auth-host", other),
      { T: TOKEN },
    );
    expect(named.code).toBe(0);
    const nowToJob = archive.auth.filter((a) => a.host === other);
    expect(nowToJob.length).toBeGreaterThanOrEqual(4);
    expect(nowToJob.every((a) => a.authorization === `Bearer ${TOKEN}`)).toBe(true);
  }, 60_000);
});
