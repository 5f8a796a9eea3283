import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readImage } from "../../src/fits/image.js";
import { validateFits } from "../../src/fits/validate.js";
import { safeId } from "../../src/plan/safe-name.js";
import { tanPixelToWorld } from "../../src/wcs/tan-header.js";
import {
  delay,
  hips2fitsRunArgs,
  listFiles,
  runCli,
  startCli,
  tempDir,
  waitFor,
  whenSeen,
  withFlags,
} from "../helpers/cli.js";
import { CutoutServer, type Fault, skyValue } from "../helpers/cutout-server.js";
import { wholeTempAnswers } from "../helpers/temp-answers.js";

let tmp: ReturnType<typeof tempDir>;
let server: CutoutServer | undefined;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(async () => {
  await server?.stop();
  server = undefined;
  tmp.cleanup();
});

/** A CSV catalog of n targets spread over a small field. */
function writeCatalog(n: number, extra: string[] = []): string {
  const lines = ["id,ra,dec"];
  for (let i = 0; i < n; i++)
    lines.push(`obj${i},${(150 + i * 0.001).toFixed(6)},${(2 + i * 0.0007).toFixed(6)}`);
  lines.push(...extra);
  const path = join(tmp.dir, "catalog.csv");
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}

async function startServer(
  fault?: (n: number, q: URLSearchParams, key: string) => Fault | undefined,
  latencyMs = 0,
) {
  server = await new CutoutServer({ ...(fault ? { fault } : {}), latencyMs }).start();
  return server;
}

const fastFlags = (url: string) => ["--hips2fits-url", url, "--rate", "1000", "--concurrency", "8"];

/** `vocut run CAT --out OUT --hips2fits CDS/P/SDSS9/g` against the test server, fast, plus extra flags. */
const gRun = (cat: string, out: string, url: string, ...extra: string[]) =>
  hips2fitsRunArgs(cat, out, url, "--rate", "1000", "--concurrency", "8", ...extra);

/** `vocut status OUT --json`, parsed. */
async function statusOf(out: string): Promise<{ byState: Record<string, number> } & Record<string, unknown>> {
  return JSON.parse((await runCli(["status", out, "--json"])).stdout) as { byState: Record<string, number> };
}

describe("vocut status while a job runs (long-job ergonomics)", () => {
  it("shows the heartbeat: holder, last progress, rate, ETA, and a host paused by Retry-After", async () => {
    // The first 6 requests succeed, then the server asks for a 600 s pause: far longer than this test
    // may take, so the prompt stop below is shown by the test ending at all, not by a clock.
    const s = await startServer((n) =>
      n > 6 ? { kind: "status", status: 429, retryAfter: "600" } : undefined,
    );
    const cat = writeCatalog(40);
    const out = join(tmp.dir, "out");
    mkdirSync(out);
    const run = startCli(hips2fitsRunArgs(cat, out, s.url, "--rate", "4"));
    try {
      // The run writes its progress every 5 s into the ledger in OUT: look again at each write until a
      // status shows the pause.
      const seen = await whenSeen(
        out,
        async () => {
          const st = await runCli(["status", out]);
          return /paused until/.test(st.stdout) ? st : undefined;
        },
        run.done,
      );
      expect(seen?.code).toBe(5);
      const human = seen?.stdout ?? "";
      const json = JSON.parse((await runCli(["status", out, "--json"])).stdout) as Record<string, unknown>;
      expect(human).toMatch(/running: pid \d+ on /);
      expect(human).toMatch(/\nETA \d/);
      expect(human).toMatch(/last progress \d{4}-\d\d-\d\dT.* ago\)/);
      expect(human).toMatch(
        /host 127\.0\.0\.1:\d+: paused \(retry-after\), [\d.]+ req\/s, window \d+, .*paused until \d{4}-/,
      );
      expect(json.lock).toMatchObject({ pid: expect.any(Number) });
      const hosts = (
        json.progress as {
          hosts: Record<string, { state: string; reason?: string; window?: number; pausedUntil?: number }>;
        }
      ).hosts;
      const [h] = Object.values(hosts);
      expect(h?.state).toBe("paused");
      expect(h?.reason).toBe("retry-after");
      expect(h?.window).toBeGreaterThanOrEqual(1);
      // The pause runs to about 600 s after the 429: still most of it ahead.
      expect((h?.pausedUntil ?? 0) - Date.now()).toBeGreaterThan(300_000);
    } finally {
      run.child.kill("SIGINT");
    }
    // Stopping during a 600 s Retry-After pause ends the run within this 60 s test: no timer keeps it alive.
    const end = await run.done;
    expect(end.code).toBe(5);
    const after = await runCli(["status", out]);
    expect(after.stdout).toMatch(/last run ended .* exit 5/);
    expect(after.stdout).not.toMatch(/running: pid/);
  }, 60_000);
});

describe("vocut run (hips2fits source against a local server)", () => {
  it("downloads every cutout once, valid FITS with the right pixels and WCS, and a rerun asks for nothing", async () => {
    const s = await startServer();
    const cat = writeCatalog(12);
    const out = join(tmp.dir, "out");
    const args = [
      "run",
      cat,
      "--out",
      out,
      "--hips2fits",
      "CDS/P/SDSS9/g,CDS/P/SDSS9/r,CDS/P/SDSS9/i",
      "--size",
      "28",
      "--pixscale",
      "0.396",
      ...fastFlags(s.url),
      "--quiet",
    ];
    const r = await runCli(args);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(s.requests).toHaveLength(36);
    expect(s.requests[0]?.userAgent).toMatch(/^vocut\/\d+\.\d+\.\d+/);
    const files = listFiles(out).filter((f) => f.endsWith(".fits"));
    expect(files).toHaveLength(36);
    for (let i = 0; i < 12; i++) {
      for (const band of ["g", "r", "i"]) {
        const buf = readFileSync(join(out, band, `obj${i}.fits`));
        expect(validateFits(buf).ok).toBe(true);
        const img = readImage(buf);
        expect([img.width, img.height]).toEqual([28, 28]);
        const ra = Number((150 + i * 0.001).toFixed(6));
        const dec = Number((2 + i * 0.0007).toFixed(6));
        expect(img.header.getNumber("CRVAL1")).toBe(ra);
        expect(img.header.getNumber("CRVAL2")).toBe(dec);
        expect(img.header.getNumber("CRPIX1")).toBe(14); // hips2fits's grid: W/2
        expect(img.header.getNumber("CDELT1")).toBeCloseTo(-0.396 / 3600, 15);
        // Every pixel is the sky model at that pixel's position according to the saved WCS.
        for (const [x, y] of [
          [1, 1],
          [28, 1],
          [14, 15],
          [28, 28],
        ] as const) {
          const w = tanPixelToWorld(img.header, x, y);
          expect(img.data[(y - 1) * 28 + (x - 1)]).toBe(Math.fround(skyValue(w.raDeg, w.decDeg, band)));
        }
      }
    }
    expect(existsSync(join(out, "vocut.db"))).toBe(true);
    const again = await runCli(args);
    expect(again.code).toBe(0);
    expect(s.requests).toHaveLength(36);
    const st = await runCli(["status", out, "--json"]);
    expect(st.code).toBe(0);
    const report = JSON.parse(st.stdout) as {
      byState: Record<string, number>;
      byBand: Record<string, Record<string, number>>;
    };
    expect(report.byState.done).toBe(36);
    expect(report.byBand.r?.done).toBe(12);
  });

  it("survives SIGKILL at random moments: every task done once, no partial files, no request repeated for finished work", async () => {
    const s = await startServer(undefined, 15);
    const n = 60;
    const cat = writeCatalog(n);
    const out = join(tmp.dir, "out");
    const args = [
      "run",
      cat,
      "--out",
      out,
      "--hips2fits",
      "CDS/P/SDSS9/g,CDS/P/SDSS9/r",
      ...fastFlags(s.url),
      "--quiet",
    ];
    const doneBeforeKill = new Set<string>();
    // Map requests back to (band, id).
    const idOf = new Map<string, string>();
    for (let i = 0; i < n; i++)
      idOf.set(`${(150 + i * 0.001).toFixed(6)}`.replace(/0+$/, "").replace(/\.$/, ""), `obj${i}`);
    const productOf = (url: string): string => {
      const q = new URL(url, "http://x").searchParams;
      return `${(q.get("hips") ?? "").split("/").pop()}|${idOf.get(q.get("ra") ?? "")}`;
    };
    const idOfRa = new Map<number, string>();
    for (let i = 0; i < n; i++) idOfRa.set(Number((150 + i * 0.001).toFixed(6)), `obj${i}`);
    let kills = 0;
    /**
     * Requests of killed runs whose answer was not on disk after the kill, neither in place nor whole in
     * the temp folder: the requests in flight at the kills (still being answered, or answered but not
     * yet written to a temp file).
     */
    let lostAtKills = 0;
    /** Requests the server had not finished answering when each kill was sent. */
    let unansweredAtKills = 0;
    /** Answers whole in the temp folder after a kill (waiting for their group sync): to be adopted. */
    let wholeInTemp = 0;
    for (let k = 0; k < 4; k++) {
      const before = s.requests.length;
      const { child, done } = startCli(args);
      // kill after a varying number of new requests
      await waitFor(() => s.requests.length >= before + 5 + k * 7 || child.exitCode !== null, 20_000, 2);
      const unanswered = s.inFlight;
      child.kill("SIGKILL");
      const res = await done;
      if (res.signal === "SIGKILL") {
        kills++;
        unansweredAtKills += unanswered;
      }
      // Everything on disk now counts as done, whole temp files included: no later request may ask
      // for it again.
      for (const f of listFiles(out)) {
        const m = /^(g|r)\/(obj\d+)\.fits$/.exec(f);
        if (m) doneBeforeKill.add(`${m[1]}|${m[2]}`);
      }
      for (const a of wholeTempAnswers(out)) {
        wholeInTemp++;
        doneBeforeKill.add(`${a.hips.split("/").pop()}|${idOfRa.get(a.raDeg)}`);
      }
      if (res.signal === "SIGKILL")
        for (const r of s.requests.slice(before)) if (!doneBeforeKill.has(productOf(r.url))) lostAtKills++;
      for (const f of listFiles(out))
        expect(f.startsWith(".vocut-tmp") || f.endsWith(".fits") || f.startsWith("vocut.db")).toBe(true);
    }
    expect(kills).toBeGreaterThan(0);
    const requestsBeforeFinal = s.requests.length;
    const final = await runCli(args);
    expect(final.code).toBe(0);
    const files = listFiles(out).filter((f) => f.endsWith(".fits"));
    expect(files).toHaveLength(2 * n);
    for (const f of files) expect(validateFits(readFileSync(join(out, f))).ok).toBe(true);
    expect(listFiles(join(out, ".vocut-tmp"))).toEqual([]);
    // No finished product was asked for after it was on disk.
    for (const r of s.requests.slice(requestsBeforeFinal))
      expect(doneBeforeKill.has(productOf(r.url))).toBe(false);
    const st = await statusOf(out);
    expect(st.byState.done).toBe(2 * n);
    // Repeats are bounded by the requests in flight at the kills: answers waiting for their group sync
    // were whole in the temp folder and are adopted, not asked again.
    const repeats = s.requests.length - 2 * n;
    console.log(
      `SIGKILL soak: ${s.requests.length} requests for ${2 * n} tasks, ${kills} kills, ${repeats} repeats, ` +
        `${lostAtKills} requests in flight at the kills (${unansweredAtKills} unanswered by the server), ` +
        `${wholeInTemp} answers whole in the temp folder (adopted)`,
    );
    expect(repeats).toBeLessThanOrEqual(lostAtKills);
    // And in absolute terms: a run has at most 2 x concurrency + 2 tasks in flight (run/fetch-all.ts), each
    // with at most one request whose answer is not yet on disk.
    expect(lostAtKills).toBeLessThanOrEqual(kills * (2 * 8 + 2));
  });

  it("honours Retry-After before asking again", async () => {
    const s = await startServer((n) =>
      n === 1 ? { kind: "status", status: 429, retryAfter: "2" } : undefined,
    );
    const cat = writeCatalog(1);
    const out = join(tmp.dir, "out");
    const r = await runCli(gRun(cat, out, s.url, "--quiet"));
    expect(r.code).toBe(0);
    expect(s.requests).toHaveLength(2);
    const [a, b] = s.requests;
    expect((b?.at ?? 0) - (a?.at ?? 0)).toBeGreaterThanOrEqual(1950);
  });

  it("never saves an HTML (or JSON) page served with 200; retries it and reports exit 5 when it persists", async () => {
    const s = await startServer((_n, _q, key) =>
      key.includes("SDSS9/g|150.001")
        ? { kind: "html200" }
        : key.includes("SDSS9/r|150.001")
          ? { kind: "json200" }
          : undefined,
    );
    const cat = writeCatalog(3);
    const out = join(tmp.dir, "out");
    const r = await runCli([
      "run",
      cat,
      "--out",
      out,
      "--hips2fits",
      "CDS/P/SDSS9/g,CDS/P/SDSS9/r",
      ...fastFlags(s.url),
      "--retries",
      "1",
      "--json",
    ]);
    expect(r.code).toBe(5);
    expect(existsSync(join(out, "g", "obj1.fits"))).toBe(false);
    expect(existsSync(join(out, "r", "obj1.fits"))).toBe(false);
    expect(listFiles(out).filter((f) => f.endsWith(".fits"))).toHaveLength(4);
    const events = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const failed = events.filter((e) => e.state === "failed_retryable");
    expect(failed).toHaveLength(2);
    expect(String(failed.find((e) => e.band === "g")?.message)).toMatch(/HTML page/i);
    expect(s.requests).toHaveLength(4 + 2 * 2);
    const st = await statusOf(out);
    expect(st.byState).toMatchObject({ done: 4, failed_retryable: 2 });
  });

  it("reports bad catalog rows with line numbers, skips them, and --strict makes them fatal (exit 3)", async () => {
    const s = await startServer();
    const cat = join(tmp.dir, "bad.csv");
    writeFileSync(
      cat,
      [
        "id,ra,dec",
        "a,10,10",
        "b,400,10",
        "c,10,-95",
        "d,abc,1",
        "a,11,11",
        "e,NaN,1",
        "f,12:30:00,+10:00:00",
        "",
      ].join("\n"),
    );
    const out = join(tmp.dir, "out");
    const r = await runCli(gRun(cat, out, s.url, "--json"));
    expect(r.code).toBe(0);
    const events = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const skips = events
      .filter((e) => e.type === "skip")
      .map((e) => `${String(e.line ?? `row ${String(e.row)}`)}:${String(e.reason)}`);
    // Physical lines for value errors; the duplicate (found by the ledger) is the 5th data row.
    expect(skips.sort()).toEqual(["3:ra_range", "4:dec_range", "5:parse", "7:nan", "row 5:duplicate_id"]);
    expect(listFiles(join(out, "g"))).toEqual(["a.fits", "f.fits"]);
    const strict = await runCli([
      "run",
      cat,
      "--out",
      join(tmp.dir, "out2"),
      "--hips2fits",
      "CDS/P/SDSS9/g",
      ...fastFlags(s.url),
      "--strict",
      "--quiet",
    ]);
    expect(strict.code).toBe(3);
    expect(strict.stderr).toMatch(/line 3/);
  });

  it("keeps hostile ids inside the output folder with distinct, deterministic names", async () => {
    const s = await startServer();
    const ids = ["../../escape", "/etc/passwd", "a\tb", "..", ".hidden", "x".repeat(400), "ok_id", "é/è"];
    const cat = join(tmp.dir, "hostile.csv");
    writeFileSync(cat, `id,ra,dec\n${ids.map((id, i) => `"${id}",${10 + i * 0.01},5`).join("\n")}\n`);
    const out = join(tmp.dir, "out");
    const r = await runCli(gRun(cat, out, s.url, "--quiet"));
    expect(r.code).toBe(0);
    const files = listFiles(out).filter((f) => f.endsWith(".fits"));
    expect(files.sort()).toEqual(ids.map((id) => `g/${safeId(id)}.fits`).sort());
    expect(listFiles(tmp.dir).filter((f) => !f.startsWith("out/") && f !== "hostile.csv")).toEqual([]);
  });

  it("a second process on a locked ledger exits 6 saying who holds it; SIGTERM drains and exits 5", async () => {
    // The first 8 requests are held until the test lets them go (after the stop signal), so they are
    // in flight while a second process starts, however loaded the machine; then they finish within the
    // stop's grace period for requests in flight.
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const s = await startServer(() => ({ kind: "gate", open: gate }));
    const cat = writeCatalog(20);
    const out = join(tmp.dir, "out");
    const args = gRun(cat, out, s.url, "--quiet");
    const first = startCli(args);
    await waitFor(() => s.requests.length >= 8);
    const second = await runCli(args);
    expect(second.code).toBe(6);
    expect(second.stderr).toMatch(new RegExp(`in use by pid ${first.child.pid}`));
    let stderr = "";
    first.child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    first.child.kill("SIGTERM");
    // Released once the stop is under way, so no further request is sent.
    await waitFor(() => stderr.includes("SIGTERM: finishing"));
    release();
    const r1 = await first.done;
    expect(r1.code).toBe(5); // graceful stop: the 8 requests in flight finish, 12 tasks are left
    expect(s.requests).toHaveLength(8);
    const st = await statusOf(out);
    expect(st.byState).toMatchObject({ done: 8, pending: 12, running: 0 });
    expect(st.lock).toBeNull();
  }, 60_000);

  it("two SIGTERMs at once (scancel signals vocut and its batch script forwards one) stop once, without aborting", async () => {
    let open: () => void = () => {};
    const gate = new Promise<void>((r) => {
      open = r;
    });
    const s = await startServer(() => ({ kind: "gate", open: gate }));
    const cat = writeCatalog(20);
    const out = join(tmp.dir, "out");
    const run = startCli(gRun(cat, out, s.url, "--rate", "1000"));
    let stderr = "";
    run.child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    await waitFor(() => s.requests.length >= 4);
    run.child.kill("SIGTERM");
    await waitFor(() => /finishing requests in flight/.test(stderr));
    run.child.kill("SIGTERM");
    await waitFor(() => /SIGTERM again within 2 s: the same stop/.test(stderr));
    open();
    const r = await run.done;
    expect(r.code).toBe(5);
    // Every request in flight at the signals finished and was kept: nothing was aborted.
    const st = await statusOf(out);
    expect(st.byState.done).toBe(s.requests.length);
    expect(st.byState.done).toBeGreaterThanOrEqual(4);
  }, 60_000);

  it("after SIGINT the summary tells tasks never tried from tasks to retry (text and --json)", async () => {
    // The first answer is a 503 asking for a 60 s pause: that task waits to be retried, the other 19
    // wait for the host; SIGINT stops them all.
    const s = await startServer((n) =>
      n !== 2 ? { kind: "status", status: 503, retryAfter: "60" } : undefined,
    );
    const cat = writeCatalog(20);
    const out = join(tmp.dir, "out");
    const slow = hips2fitsRunArgs(cat, out, s.url);
    const run = startCli([...slow, "--concurrency", "1", "--rate", "5"]);
    await waitFor(() => s.requests.length >= 1);
    await delay(300);
    run.child.kill("SIGINT");
    const r = await run.done;
    expect(r.code).toBe(5);
    expect(s.requests).toHaveLength(1);
    expect(r.stderr).toMatch(
      /0 done, 0 no coverage, 0 failed permanently, 19 pending \(not tried yet\), 1 to retry;/,
    );
    // A resume that stops again: the task that failed is still "to retry" (its attempt is in the ledger now).
    // --json, on a resume: the first task is answered (request 2), the second meets a 503 and waits.
    const again = startCli([...slow, "--concurrency", "1", "--rate", "5", "--json"]);
    await waitFor(() => s.requests.length >= 3);
    await delay(300);
    again.child.kill("SIGINT");
    const j = await again.done;
    const summary = JSON.parse(j.stdout.trim().split("\n").at(-1) as string) as Record<
      string,
      number | string
    >;
    expect(summary).toMatchObject({
      type: "summary",
      done: 1,
      pending: 19,
      notTried: 18,
      toRetry: 1,
      exitCode: 5,
    });
  }, 60_000);

  it("refuses to resume with different job parameters (exit 2)", async () => {
    const s = await startServer();
    const cat = writeCatalog(2);
    const out = join(tmp.dir, "out");
    const base = gRun(cat, out, s.url, "--quiet");
    expect((await runCli([...base, "--size", "28"])).code).toBe(0);
    const r = await runCli([...base, "--size", "32"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/different parameters/);
    expect(r.stderr).toMatch(/"widthPx":28/);
  });

  it("404 is permanent (exit 4, not retried); `retry --permanent` asks again", async () => {
    let gone = true;
    const s = await startServer((_n, _q, key) =>
      gone && key.includes("|150.001|") ? { kind: "status", status: 404 } : undefined,
    );
    const cat = writeCatalog(3);
    const out = join(tmp.dir, "out");
    const r = await runCli(gRun(cat, out, s.url, "--quiet"));
    expect(r.code).toBe(4);
    expect(s.requests).toHaveLength(3);
    const st = await runCli(["status", out]);
    expect(st.code).toBe(4);
    expect(st.stdout).toMatch(/HTTP_404/);
    gone = false;
    const again = await runCli(["retry", out, "--permanent", "--quiet", "--rate", "1000"]);
    expect(again.code).toBe(0);
    expect(s.requests).toHaveLength(4);
  });

  it("a server that stays down ends the run with exit 5 (circuit breaker) and loses no work", async () => {
    const s = await startServer(() => ({ kind: "status", status: 503 }));
    const cat = writeCatalog(3);
    const out = join(tmp.dir, "out");
    const flags = [
      "--pause-after",
      "2",
      "--pause",
      "0.2",
      "--give-up-after",
      "2",
      "--retries",
      "50",
      "--quiet",
    ];
    const r = await runCli(gRun(cat, out, s.url, ...flags));
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/kept failing/);
    const st = await statusOf(out);
    expect(st.byState.done).toBe(0);
    expect((st.byState.pending ?? 0) + (st.byState.failed_retryable ?? 0)).toBe(3);
    expect(s.requests.length).toBeLessThan(20);
  });

  it("--max-duration stops cleanly with exit 5 and the next run finishes the job", async () => {
    const s = await startServer(undefined, 50);
    const cat = writeCatalog(40);
    const out = join(tmp.dir, "out");
    const args = hips2fitsRunArgs(cat, out, s.url, "--rate", "20", "--quiet");
    const r = await runCli([...args, "--max-duration", "0.5"]);
    expect(r.code).toBe(5);
    const partial = listFiles(join(out, "g")).length;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(40);
    const again = await runCli(withFlags(args, "--rate", "1000"));
    expect(again.code).toBe(0);
    expect(listFiles(join(out, "g"))).toHaveLength(40);
    expect(s.requests).toHaveLength(40);
  });

  it("plan --dry-run prints every request and touches nothing", async () => {
    const cat = writeCatalog(3);
    const out = join(tmp.dir, "out");
    const r = await runCli([
      "plan",
      cat,
      "--dry-run",
      "--out",
      out,
      "--url",
      "https://cutouts.example/c?ra={ra}&dec={dec}&band={band}&size={size}",
      "--bands",
      "g,z",
    ]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(6);
    expect(lines[1]).toBe("z\tobj0\thttps://cutouts.example/c?ra=150&dec=2&band=z&size=28\tz/obj0.fits");
    expect(existsSync(out)).toBe(false);
  });

  it("fetch resumes a planned job from the ledger alone", async () => {
    const s = await startServer();
    const cat = writeCatalog(4);
    const out = join(tmp.dir, "out");
    const p = await runCli(["plan", ...hips2fitsRunArgs(cat, out, s.url, "--quiet").slice(1)]);
    expect(p.code).toBe(0);
    expect(s.requests).toHaveLength(0);
    const f = await runCli(["fetch", out, "--rate", "1000", "--quiet"]);
    expect(f.code).toBe(0);
    expect(listFiles(join(out, "g"))).toHaveLength(4);
  });

  it("bad usage exits 2 with a message; a missing catalog exits 3", async () => {
    const noSource = await runCli(["run", writeCatalog(1), "--out", tmp.dir]);
    expect(noSource.code).toBe(2);
    expect(noSource.stderr).toMatch(/exactly one source/);
    const missing = await runCli([
      "run",
      join(tmp.dir, "nope.csv"),
      "--out",
      tmp.dir,
      "--hips2fits",
      "CDS/P/SDSS9/g",
    ]);
    expect(missing.code).toBe(3);
    for (const args of [["run"], ["status", "--bogus"], ["plan", "x.csv", "--size"]]) {
      expect((await runCli(args)).code).toBe(2);
    }
    const help = await runCli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Exit codes:[\s\S]*6 {2}ledger locked/);
  });
});
