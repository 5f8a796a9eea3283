import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ExitCode, VocutError } from "../../src/errors.js";
import { ledgerOpenError } from "../../src/ledger/ledger-file.js";
import { CLI, tempDir } from "../helpers/cli.js";

const V4 = join(import.meta.dirname, "../../fixtures/ledger/v4-tar-killed.db");

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir("vocut-readonly-");
});
afterEach(() => {
  chmodSync(tmp.dir, 0o755);
  tmp.cleanup();
});

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
      /^ledger \/jobs\/a\/vocut\.db cannot be written by this user \(SQLITE_READONLY/,
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

  it("vocut status on a v4 ledger in a folder this user cannot write: exit 3 naming the cause, file unchanged", () => {
    // Root ignores permissions, so as root the CLI runs as nobody; anyone else is refused by the modes.
    const dir = join(tmp.dir, "job");
    mkdirSync(dir);
    copyFileSync(V4, join(dir, "vocut.db"));
    chmodSync(join(dir, "vocut.db"), 0o444);
    chmodSync(dir, 0o555);
    chmodSync(tmp.dir, 0o755);
    const before = spawnSync("sha256sum", [join(dir, "vocut.db")], { encoding: "utf8" }).stdout;
    const argv = [process.execPath, CLI, "status", dir];
    const asRoot = process.getuid?.() === 0;
    const r = asRoot
      ? spawnSync("runuser", ["-u", "nobody", "--", ...argv], { encoding: "utf8" })
      : spawnSync(argv[0] as string, argv.slice(1), { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(ExitCode.Input);
    expect(r.stderr).toContain(`ledger ${join(dir, "vocut.db")} cannot be written by this user`);
    expect(r.stderr).not.toMatch(/corrupt|move it aside/);
    expect(spawnSync("sha256sum", [join(dir, "vocut.db")], { encoding: "utf8" }).stdout).toBe(before);
  });
});
