import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ExitCode } from "../../src/errors.js";
import {
  SAMPLE_HIPS as HIPS,
  listFiles,
  runCli,
  SAMPLE_CATALOG,
  sampleHipsArgs,
  tempDir,
} from "../helpers/cli.js";
import { CutoutServer } from "../helpers/cutout-server.js";
import { type FileRequest, serveFiles } from "../helpers/file-server.js";

const FAR = 200;

/** The sample catalog's 40 sources plus FAR targets spread over the sky far from the sample field. */
function catalogWithFarTargets(dir: string): string {
  const lines = readFileSync(SAMPLE_CATALOG, "utf8")
    .split("\n")
    .filter((l) => /^SRC/.test(l))
    .map((l) => l.split(",").slice(0, 3).join(","));
  for (let i = 0; i < FAR; i++) {
    // RA 0..300 away from 150 +- 20, Dec -60..60: tens of degrees from the 5' sample field.
    const ra = (180 + i * 1.4) % 360;
    const dec = -60 + ((i * 37) % 120);
    lines.push(`FAR${String(i).padStart(3, "0")},${ra},${dec}`);
  }
  const path = join(dir, "cat.csv");
  writeFileSync(path, `id,ra,dec\n${lines.join("\n")}\n`);
  return path;
}

function taskStates(stdout: string): Map<string, { state: string; message?: string }> {
  const out = new Map<string, { state: string; message?: string }>();
  for (const line of stdout.trim().split("\n")) {
    const e = JSON.parse(line) as { type: string; id?: string; state?: string; message?: string };
    if (e.type === "task" && e.id !== undefined)
      out.set(e.id, { state: String(e.state), ...(e.message === undefined ? {} : { message: e.message }) });
  }
  return out;
}

describe("coverage maps: targets outside the survey's MOC are never asked", () => {
  let tmp: ReturnType<typeof tempDir>;
  const servers: Array<{ close: () => Promise<void> }> = [];
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
    tmp.cleanup();
  });

  it("--hips over HTTP: Moc.fits fetched once, no tile request 404s, the 200 far targets are no_coverage", async () => {
    const seen: FileRequest[] = [];
    const server = await serveFiles(HIPS, seen);
    servers.push(server);
    const { base } = server;
    const cat = catalogWithFarTargets(tmp.dir);
    const out = join(tmp.dir, "out");
    const args = sampleHipsArgs(cat, out, `g=${base}/sample-g`, "--rate", "1000", "--json");
    const r = await runCli(args);
    expect(r.code).toBe(ExitCode.Ok);
    const states = taskStates(r.stdout);
    const far = [...states].filter(([id]) => id.startsWith("FAR"));
    expect(far).toHaveLength(FAR);
    for (const [, s] of far) expect(s).toEqual({ state: "no_coverage", message: "outside the survey's MOC" });
    expect([...states].filter(([, s]) => s.state === "done")).toHaveLength(40);
    expect(seen.filter((s) => s.path === "/sample-g/Moc.fits")).toHaveLength(1);
    const tiles = seen.filter((s) => s.path.includes("/Norder"));
    expect(tiles.length).toBeGreaterThan(0);
    expect(tiles.filter((s) => s.status !== 200)).toEqual([]);
    expect(listFiles(join(out, "g"))).toHaveLength(40);
    // A resumed job reads the MOC from its cache (recorded in the ledger): not fetched again.
    const before = seen.length;
    expect((await runCli(args)).code).toBe(ExitCode.Ok);
    expect(seen.length).toBe(before);
  });

  it("a survey whose Moc.fits is an HTML page runs as without a MOC, with a warning", async () => {
    const seen: FileRequest[] = [];
    const server = await serveFiles(HIPS, seen, (path) =>
      path === "/sample-g/Moc.fits"
        ? Buffer.from("<html><body>Welcome to our archive</body></html>")
        : undefined,
    );
    servers.push(server);
    const { base } = server;
    const cat = join(tmp.dir, "two.csv");
    writeFileSync(cat, "id,ra,dec\nnear,150.1,2.2\nfar,10,10\n");
    const r = await runCli([
      "run",
      cat,
      "--out",
      join(tmp.dir, "out"),
      "--hips",
      `g=${base}/sample-g`,
      "--size",
      "16",
      "--pixscale",
      "0.8",
      "--rate",
      "1000",
      "--retries",
      "0",
      "--json",
    ]);
    expect(r.code).toBe(ExitCode.Ok);
    expect(r.stderr).toMatch(/warning: .*Moc\.fits.*every target of band g is asked/);
    const states = taskStates(r.stdout);
    expect(states.get("near")?.state).toBe("done");
    // Asked: the far target's tile answers 404, so it is no coverage the old way.
    expect(states.get("far")?.state).toBe("no_coverage");
    expect(states.get("far")?.message).not.toBe("outside the survey's MOC");
    expect(seen.some((s) => s.path.includes("/Norder") && s.status === 404)).toBe(true);
  });

  it("plan --dry-run says how many targets the MOC leaves out and prints them as no_coverage", async () => {
    const cat = catalogWithFarTargets(tmp.dir);
    const r = await runCli([
      "plan",
      cat,
      "--dry-run",
      "--hips",
      `g=${join(HIPS, "sample-g")}`,
      "--size",
      "32",
      "--pixscale",
      "0.8",
    ]);
    expect(r.code).toBe(ExitCode.Ok);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(240);
    expect(lines.filter((l) => l.includes("\tno_coverage: outside the survey's MOC\t"))).toHaveLength(FAR);
    expect(r.stderr).toMatch(
      /coverage: 200 of 240 target\(s\) outside the survey's MOC in every band, 200 task/,
    );
  });

  it("--hips2fits --moc auto: the MocServer is asked once for the survey's MOC, hips2fits never for the far targets", async () => {
    const seen: FileRequest[] = [];
    const moc = readFileSync(join(HIPS, "sample-g/Moc.fits"));
    const server = await serveFiles(HIPS, seen, (path, q) =>
      path === "/MocServer/query" &&
      q.get("ID") === "CDS/P/vocut/g" &&
      q.get("get") === "moc" &&
      q.get("fmt") === "fits"
        ? moc
        : undefined,
    );
    servers.push(server);
    const { base } = server;
    const h2f = await new CutoutServer().start();
    try {
      const cat = catalogWithFarTargets(tmp.dir);
      const r = await runCli([
        "run",
        cat,
        "--out",
        join(tmp.dir, "out"),
        "--hips2fits",
        "g=CDS/P/vocut/g",
        "--hips2fits-url",
        h2f.url,
        "--moc",
        "auto",
        "--mocserver-url",
        `${base}/MocServer/query`,
        "--rate",
        "1000",
        "--json",
      ]);
      expect(r.code).toBe(ExitCode.Ok);
      expect(seen.map((s) => `${s.path} ${s.status}`)).toEqual(["/MocServer/query 200"]);
      expect(h2f.requests).toHaveLength(40);
      for (const q of h2f.requests) expect(q.url).not.toMatch(/FAR/);
      const decs = h2f.requests.map((q) => Number(new URL(q.url, "http://x").searchParams.get("dec")));
      for (const d of decs) expect(Math.abs(d - 2.2)).toBeLessThan(0.1);
      const states = taskStates(r.stdout);
      expect([...states].filter(([, s]) => s.message === "outside the survey's MOC")).toHaveLength(FAR);
    } finally {
      await h2f.stop();
    }
  });

  it("--moc FILE with a template source; a missing file, an HTML 'MOC' and --moc auto without HiPS IDs are refused", async () => {
    const cat = catalogWithFarTargets(tmp.dir);
    const h2f = await new CutoutServer().start();
    try {
      const args = (moc: string, out: string) => [
        "run",
        cat,
        "--out",
        join(tmp.dir, out),
        "--url",
        `${h2f.url}?hips=x&ra={ra}&dec={dec}&width={width}&height={height}&fov={fovDeg}&format=fits`,
        "--bands",
        "g",
        "--moc",
        moc,
        "--rate",
        "1000",
        "--quiet",
      ];
      const ok = await runCli(args(join(HIPS, "sample-g/Moc.fits"), "a"));
      expect(ok.code).toBe(ExitCode.Ok);
      expect(h2f.requests).toHaveLength(40);
      const missing = await runCli(args(join(tmp.dir, "nope.fits"), "b"));
      expect(missing.code).toBe(ExitCode.Usage);
      expect(missing.stderr).toMatch(/--moc .*nope\.fits.*no such file/);
      const html = join(tmp.dir, "moc.fits");
      writeFileSync(html, "<html><body>Service unavailable</body></html>");
      const bad = await runCli(args(html, "c"));
      expect(bad.code).toBe(ExitCode.Input);
      expect(bad.stderr).toMatch(/is not a readable MOC/);
      const auto = await runCli(args("auto", "d"));
      expect(auto.code).toBe(ExitCode.Usage);
      expect(auto.stderr).toMatch(/--moc auto needs --hips2fits/);
      expect(h2f.requests).toHaveLength(40);
    } finally {
      await h2f.stop();
    }
  });
});
