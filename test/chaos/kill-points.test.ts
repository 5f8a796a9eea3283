import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { runCli, tempDir } from "../helpers/cli.js";

/**
 * SIGKILL at a chosen point instead of a random moment: a preloaded hook wraps better-sqlite3 so that the
 * process kills itself at the point under test, with everything before it done for real.
 */

const require = createRequire(import.meta.url);
let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.cleanup());

it("a SIGKILL between the statements that create the ledger schema leaves a ledger the next run uses", async () => {
  const hook = join(tmp.dir, "kill-in-schema.cjs");
  writeFileSync(
    hook,
    `const Database = require(${JSON.stringify(require.resolve("better-sqlite3"))});
const exec = Database.prototype.exec;
Database.prototype.exec = function (sql) {
  if (sql.includes("CREATE TABLE task")) {
    exec.call(this, sql.slice(0, sql.indexOf(";") + 1)); // the first CREATE TABLE only
    process.kill(process.pid, "SIGKILL");
  }
  return exec.call(this, sql);
};
`,
  );
  const cat = join(tmp.dir, "catalog.csv");
  writeFileSync(cat, "id,ra,dec\na,1,1\nb,2,2\n");
  const out = join(tmp.dir, "out");
  const args = ["plan", cat, "--out", out, "--url", "http://127.0.0.1:9/c?ra={ra}&dec={dec}", "--bands", "x"];

  const killed = await runCli(args, { NODE_OPTIONS: `--require ${hook}` });
  expect(killed.signal).toBe("SIGKILL");
  const again = await runCli(args);
  expect(again.stderr).not.toMatch(/not a vocut ledger/);
  expect(again.code, again.stderr).toBe(0);
  expect(again.stderr).toMatch(/2 task\(s\), 2 pending/);
});
