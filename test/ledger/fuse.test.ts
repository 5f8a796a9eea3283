import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readImage } from "../../src/fits/image.js";
import { validateFits } from "../../src/fits/validate.js";
import { hips2fitsRunArgs, listFiles, runCli, startCli, tempDir, whenSeen } from "../helpers/cli.js";
import { CutoutServer } from "../helpers/cutout-server.js";

/**
 * Issue 15, part 5, on a real FUSE mount: bindfs with `-o direct_io` (as sshfs -o direct_io and other
 * network FUSE file systems run), where SQLite cannot map WAL's -shm at all. OUT and the ledger are on
 * the mount. Needs /dev/fuse, root and bindfs; .ci/run installs bindfs, so under CI a missing bindfs is a
 * failure, not a skip.
 */
const hasBindfs = spawnSync("sh", ["-c", "command -v bindfs"]).status === 0;
const fuseUsable = process.platform === "linux" && existsSync("/dev/fuse") && process.getuid?.() === 0;
const FUSE_MAGIC = 0x65735546;

if (fuseUsable && !hasBindfs && process.env.CI === "true") {
  throw new Error("CI: /dev/fuse is usable but bindfs is missing (.ci/run installs it)");
}

describe.skipIf(!fuseUsable || !hasBindfs)("ledger on a FUSE mount (bindfs -o direct_io)", () => {
  let tmp: ReturnType<typeof tempDir>;
  let mnt = "";
  let mounted = false;
  let server: CutoutServer;

  beforeAll(async () => {
    tmp = tempDir("vocut-fuse-");
    const back = join(tmp.dir, "back");
    mnt = join(tmp.dir, "mnt");
    mkdirSync(back);
    mkdirSync(mnt);
    const m = spawnSync("bindfs", ["-o", "direct_io", back, mnt], { encoding: "utf8" });
    if (m.status !== 0) throw new Error(`bindfs failed: ${m.stderr}`);
    mounted = true;
    expect(statfsSync(mnt).type).toBe(FUSE_MAGIC);
    server = await new CutoutServer().start();
  });

  afterAll(async () => {
    await server?.stop();
    if (mounted) {
      // Lazy unmount as a fallback: a process still holding a file must not leave the mount behind.
      if (spawnSync("fusermount", ["-u", mnt]).status !== 0) spawnSync("umount", ["-l", mnt]);
    }
    tmp?.cleanup();
  });

  function writeCatalog(n: number, name: string): string {
    const lines = ["id,ra,dec"];
    for (let i = 0; i < n; i++)
      lines.push(`obj${i},${(150 + i * 0.001).toFixed(6)},${(2 + i * 0.0007).toFixed(6)}`);
    const path = join(tmp.dir, name);
    writeFileSync(path, `${lines.join("\n")}\n`);
    return path;
  }

  const runArgs = (cat: string, out: string, ...extra: string[]) =>
    hips2fitsRunArgs(cat, out, server.url, "--concurrency", "4", ...extra);

  /** Every cutout is a valid FITS file centred on its target. */
  function checkFiles(out: string, n: number): void {
    const files = listFiles(out).filter((f) => f.endsWith(".fits"));
    expect(files).toHaveLength(n);
    for (let i = 0; i < n; i++) {
      const buf = readFileSync(join(out, "g", `obj${i}.fits`));
      expect(validateFits(buf).ok).toBe(true);
      const img = readImage(buf);
      expect(img.header.getNumber("CRVAL1")).toBe(Number((150 + i * 0.001).toFixed(6)));
      expect(img.header.getNumber("CRVAL2")).toBe(Number((2 + i * 0.0007).toFixed(6)));
    }
  }

  // The three tests run together, each in its own folder on the mount: they mostly wait (for a held
  // server, a 10 s lock timeout, a rate limit).
  it.concurrent("auto (wal-exclusive): a 300-target job runs to the end; status and status --json work while it runs", async ({
    onTestFinished,
  }) => {
    const n = 300;
    const cat = writeCatalog(n, "cat300.csv");
    const out = join(mnt, "out");
    // Its own server: the first 20 answers come at once, then it holds every request until the checks
    // below are done, so the run still holds the ledger when export waits 10 s for it, and its heartbeat
    // (every 5 s) has published progress. Then the rest is answered and the run goes on to the end.
    let open = (): void => {};
    const opened = new Promise<void>((r) => (open = r));
    const held = await new CutoutServer({
      fault: (k) => (k > 20 ? { kind: "gate", open: opened } : undefined),
    }).start();
    onTestFinished(async () => {
      open();
      await held.stop();
    });
    const args = hips2fitsRunArgs(cat, out, held.url, "--concurrency", "4", "--rate", "1000");
    mkdirSync(out);
    const run = startCli(args);
    let sawProgress = false;
    let json: Record<string, unknown> = {};
    try {
      // Look again at each change in OUT until a status shows work done and work left, read from the
      // file the run publishes.
      const seen = await whenSeen(
        out,
        async () => {
          const st = await runCli(["status", out, "--json"]);
          if (st.code !== 5) return undefined;
          const j = JSON.parse(st.stdout) as Record<string, unknown>;
          const s = j.byState as Record<string, number>;
          return j.from === "status-file" && (s.done ?? 0) > 0 && (s.pending ?? 0) > 0 ? j : undefined;
        },
        run.done,
      );
      sawProgress = seen !== undefined;
      json = seen ?? {};
      expect(sawProgress).toBe(true);
      expect(json).toMatchObject({
        journal: "wal-exclusive",
        fileSystem: "fuse",
        total: n,
        bands: ["g"],
        lock: { pid: run.child.pid },
        statusFile: { path: join(out, "vocut.db.status.json") },
      });
      const s = json.byState as Record<string, number>;
      expect(Object.values(s).reduce((a, b) => a + b, 0)).toBe(n);
      expect((json.progress as { hosts?: unknown }).hosts).toBeTypeOf("object");

      // The run cannot have ended: the server still holds its requests.
      const st = await runCli(["status", out]);
      const human = st.stdout;
      expect(run.child.exitCode).toBeNull();
      expect(st.code).toBe(5);
      expect(human).toMatch(
        /from .*vocut\.db\.status\.json, written .* ago\): the run holds the ledger exclusively on this fuse file system/,
      );
      expect(human).toMatch(new RegExp(`running: pid ${run.child.pid} on `));
      expect(human).toMatch(/^g\s+\d+/m);

      // Other readers and a second run say who holds the ledger instead of crashing or hanging.
      const ex = await runCli(["export", out, "--format", "npy", "--out", join(tmp.dir, "x.npy")]);
      expect(run.child.exitCode).toBeNull();
      expect(ex.code).toBe(6);
      expect(ex.stderr).toContain(`pid ${run.child.pid}`);
      expect(ex.stderr).toContain("vocut.db.status.json");
    } finally {
      open();
      if (run.child.exitCode === null && !sawProgress) run.child.kill("SIGINT");
    }
    const end = await run.done;
    expect(end.stderr).toContain(
      "300 done, 0 no coverage, 0 failed permanently, 0 pending (not tried yet), 0 to retry",
    );
    expect(end.code).toBe(0);
    expect(held.requests).toHaveLength(n);
    checkFiles(out, n);
    expect(existsSync(join(out, "vocut.db-shm"))).toBe(false);

    // After the run the ledger itself is read (exclusively, for a moment), and export works.
    const after = await runCli(["status", out, "--json"]);
    expect(after.code).toBe(0);
    expect(JSON.parse(after.stdout)).toMatchObject({ from: "ledger", lock: null, byState: { done: n } });
    const ex = await runCli(["export", out, "--format", "npy", "--out", join(tmp.dir, "y.npy")]);
    expect(ex.code).toBe(0);
    // A resume asks for nothing.
    const again = await runCli(args);
    expect(again.code).toBe(0);
    expect(held.requests).toHaveLength(n);
  }, 120_000);

  it.concurrent("a second run on a held ledger exits 6 naming the holder (not 3, not a crash)", async () => {
    // 150 targets at 5/s: still running when the second run gives up waiting for the file (10 s).
    const cat = writeCatalog(150, "cat150.csv");
    const out = join(mnt, "out-twice");
    mkdirSync(out);
    const first = startCli(runArgs(cat, out, "--rate", "5"));
    try {
      const statusFile = join(out, "vocut.db.status.json");
      await whenSeen(out, async () => (existsSync(statusFile) ? true : undefined), first.done);
      const second = await runCli(runArgs(cat, out, "--rate", "5"));
      expect(second.code).toBe(6);
      expect(second.stderr).toContain(`in use by pid ${first.child.pid}`);
    } finally {
      first.child.kill("SIGINT");
    }
    expect((await first.done).code).toBe(5);
    const st = await runCli(["status", out, "--json"]);
    expect(st.code).toBe(5);
    expect(JSON.parse(st.stdout)).toMatchObject({ from: "ledger", lock: null });
  }, 120_000);

  it.concurrent("--ledger-journal delete: a rollback journal, and status reads the ledger itself while the job runs", async () => {
    const n = 100;
    const cat = writeCatalog(n, "cat100.csv");
    const out = join(mnt, "out-delete");
    mkdirSync(out);
    const run = startCli(runArgs(cat, out, "--rate", "25", "--ledger-journal", "delete"));
    const seen = await whenSeen(
      out,
      async () => {
        const st = await runCli(["status", out, "--json"]);
        if (st.code !== 5) return undefined;
        const j = JSON.parse(st.stdout) as Record<string, unknown>;
        return ((j.byState as Record<string, number>).done ?? 0) > 0 && j.lock !== null ? j : undefined;
      },
      run.done,
    );
    const end = await run.done;
    expect(seen).toMatchObject({ from: "ledger", journal: "delete", fileSystem: "fuse", total: n });
    expect(end.code).toBe(0);
    checkFiles(out, n);
    expect(existsSync(join(out, "vocut.db-wal"))).toBe(false);
  }, 120_000);
});
