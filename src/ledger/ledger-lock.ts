import { hostname } from "node:os";
import type Database from "better-sqlite3";
import { ExitCode, VocutError } from "../errors.js";

/** Who holds the ledger lock. */
export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  readonly startedAt: number;
  readonly heartbeatAt: number;
}

const HEARTBEAT_MS = 10_000;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * The single-writer lock of a ledger (the `lock` table): who holds it, taking it over from a dead or
 * silent holder, and the heartbeat that shows the holder is alive. Every statement is prepared once.
 */
export class LedgerLock {
  private readonly db: Database.Database;
  private readonly path: string;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** True once acquire() has taken the lock. */
  held = false;
  private readonly stmt;

  /** The lock of the open ledger `db` at `path` (the path only names it in errors). */
  constructor(db: Database.Database, path: string) {
    this.db = db;
    this.path = path;
    this.stmt = {
      getLock: db.prepare<[], { pid: number; host: string; started_at: number; heartbeat_at: number }>(
        "SELECT pid, host, started_at, heartbeat_at FROM lock WHERE id = 1",
      ),
      setLock: db.prepare<[number, string, number, number]>(
        "INSERT OR REPLACE INTO lock(id, pid, host, started_at, heartbeat_at) VALUES (1, ?, ?, ?, ?)",
      ),
      heartbeat: db.prepare<[number, number, string]>(
        "UPDATE lock SET heartbeat_at = ? WHERE id = 1 AND pid = ? AND host = ?",
      ),
      releaseLock: db.prepare<[number, string]>("DELETE FROM lock WHERE id = 1 AND pid = ? AND host = ?"),
    };
  }

  /**
   * Take the lock and start the heartbeat. Throws VocutError exit 6 when a live process holds it: on
   * this host, a process that exists; on another, one whose heartbeat is younger than `staleLockMs`.
   */
  acquire(staleLockMs: number): void {
    const me = { pid: process.pid, host: hostname() };
    const now = Date.now();
    const take = this.db.transaction(() => {
      const held = this.stmt.getLock.get();
      if (held && !(held.pid === me.pid && held.host === me.host)) {
        const alive = held.host === me.host ? processAlive(held.pid) : now - held.heartbeat_at < staleLockMs;
        if (alive) return held;
      }
      this.stmt.setLock.run(me.pid, me.host, now, now);
      return undefined;
    });
    // IMMEDIATE: two processes starting together serialise here instead of both seeing no lock.
    const held = take.immediate();
    if (held) {
      throw new VocutError(
        "LEDGER_LOCKED",
        `ledger ${this.path} is in use by pid ${held.pid} on ${held.host} (since ${new Date(held.started_at).toISOString()}, ` +
          `last heartbeat ${new Date(held.heartbeat_at).toISOString()}); wait for it to finish or stop it`,
        ExitCode.Locked,
      );
    }
    this.held = true;
    this.heartbeatTimer = setInterval(() => {
      try {
        if (!this.stopped) this.stmt.heartbeat.run(Date.now(), me.pid, me.host);
      } catch {
        // A missed heartbeat (disk full) is harmless: the next commit reports the failure.
      }
    }, HEARTBEAT_MS);
    this.heartbeatTimer.unref();
  }

  /** The lock holder recorded in the ledger, if any (for `status`). */
  holder(): LockHolder | undefined {
    const r = this.stmt.getLock.get();
    return r && { pid: r.pid, host: r.host, startedAt: r.started_at, heartbeatAt: r.heartbeat_at };
  }

  /** Stop the heartbeat and delete the lock if this process holds it. Never throws. */
  release(): void {
    this.stopped = true;
    if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
    try {
      if (this.held) this.stmt.releaseLock.run(process.pid, hostname());
    } catch {
      // Left behind, the lock names a dead process: the next run on this host takes it over.
    }
  }
}
