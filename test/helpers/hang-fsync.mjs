// Preloaded into the CLI (`node --import`) by the stall tests: every asynchronous fsync hangs for good,
// as on a cluster file system that stopped answering. The pending timer keeps the event loop alive as
// a real fsync stuck in libuv's thread pool would. Synchronous fsyncs (folders, SQLite) are untouched.
// HANG_FSYNC_MARK names a file created at the first hung call, so a test knows the sync is stuck.
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";

let marked = false;
fs.fsync = (_fd, _callback) => {
  if (!marked && process.env.HANG_FSYNC_MARK) {
    marked = true;
    fs.writeFileSync(process.env.HANG_FSYNC_MARK, String(process.pid));
  }
  setTimeout(() => {}, 2 ** 31 - 1);
};
syncBuiltinESMExports();
