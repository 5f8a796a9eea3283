import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ExitCode, VocutError } from "../../src/errors.js";
import { ledgerOpenError } from "../../src/ledger/ledger-file.js";
import { runCli, tempDir } from "../helpers/cli.js";

const V4 = join(import.meta.dirname, "../../fixtures/ledger/v4-tar-killed.db");

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir("vocut-readonly-");
});
afterEach(() => tmp.cleanup());

/** SQLite's own error for a write to a database it may not write. */
function readonlyError(): unknown {
  const path = join(tmp.dir, "ro.db");
  new Database(path).close();
  const db = new Database(path, { readonly: true });
  try {
    db.exec("CREATE TABLE t (x)");
  } catch (err) {
    return err;
  } finally {
    db.close();
  }
  throw new Error("expected SQLITE_READONLY");
}

describe("a ledger this user may not write", () => {
  it("is said to be read-only, not corrupt: moving a good ledger aside would lose the job", () => {
    const e = ledgerOpenError("/jobs/a/vocut.db", readonlyError());
    expect(e).toBeInstanceOf(VocutError);
    expect(e.code).toBe("LEDGER_READONLY");
    expect(e.exitCode).toBe(ExitCode.Input);
    expect(e.message).toMatch(
      /^ledger \/jobs\/a\/vocut\.db cannot be written \(read-only; SQLite: SQLITE_READONLY/,
    );
    expect(e.message).not.toMatch(/corrupt|move it aside/);
    // Anything else SQLite cannot read is still corrupt.
    const bad = join(tmp.dir, "bad.db");
    writeFileSync(bad, "not a database, long enough to have a header of one hundred bytes or so: ".repeat(4));
    let notADb: unknown;
    try {
      new Database(bad).pragma("user_version");
    } catch (err) {
      notADb = err;
    }
    expect(ledgerOpenError(bad, notADb).code).toBe("LEDGER_CORRUPT");
  });

  it("vocut status on a v4 ledger it cannot write (a read-only mount as root, file modes otherwise): exit 3 naming the cause, file unchanged", async () => {
    // Root ignores file modes but not a read-only mount (EROFS), the case of an archived job.
    const src = join(tmp.dir, "src");
    mkdirSync(src);
    copyFileSync(V4, join(src, "vocut.db"));
    const before = readFileSync(join(src, "vocut.db"));
    let dir = src;
    let unmount: string | undefined;
    if (process.getuid?.() === 0) {
      dir = join(tmp.dir, "ro");
      mkdirSync(dir);
      for (const args of [
        ["--bind", src, dir],
        ["-o", "remount,ro,bind", dir],
      ]) {
        const m = spawnSync("mount", args, { encoding: "utf8" });
        expect(m.status, `mount ${args.join(" ")}: ${m.stderr}`).toBe(0);
        unmount = dir;
      }
    } else {
      chmodSync(join(src, "vocut.db"), 0o444);
      chmodSync(src, 0o555);
    }
    try {
      const r = await runCli(["status", dir]);
      expect(r.code, r.stderr).toBe(ExitCode.Input);
      expect(r.stderr).toMatch(
        new RegExp(
          `ledger ${join(dir, "vocut.db")} cannot be written \\((EROFS|EACCES) on (the file|its folder); SQLite: SQLITE_`,
        ),
      );
      expect(r.stderr).not.toMatch(/corrupt|move it aside/);
    } finally {
      if (unmount !== undefined) spawnSync("umount", [unmount]);
      chmodSync(src, 0o755);
    }
    expect(readFileSync(join(src, "vocut.db")).equals(before)).toBe(true);
  });
});
