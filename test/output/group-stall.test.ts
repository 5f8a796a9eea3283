import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AtomicWriter, GROUP_MS } from "../../src/output/write-atomic.js";
import { tempDir } from "../helpers/cli.js";

/** A group durability step whose every call waits until the test releases it (a slow shared disk). */
function controlledSync(): {
  readonly makeDurable: (tmps: readonly string[]) => Promise<void>;
  readonly calls: string[][];
  release(): void;
} {
  const waiting: Array<() => void> = [];
  const calls: string[][] = [];
  return {
    calls,
    makeDurable(tmps) {
      calls.push([...tmps]);
      return new Promise<void>((r) => waiting.push(r));
    },
    release() {
      for (const r of waiting.splice(0)) r();
    },
  };
}

/** Let the temp-file writes (real fs, thread pool) finish while timers stay frozen. */
async function settleIo(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

/**
 * Wait through real I/O turns, with the fake timers frozen, until `cond` holds. Real file writes take a
 * variable real time, so the bound is 10 s of real time (performance.now is not faked), not a turn count.
 */
async function until(cond: () => boolean, what: string): Promise<void> {
  const end = performance.now() + 10_000;
  while (performance.now() < end) {
    if (cond()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`never happened: ${what}`);
}

describe("AtomicWriter group flush under a slow group sync (issue 15)", () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    vi.useRealTimers();
    for (const c of cleanups.splice(0)) c();
  });
  const newDir = (): string => {
    const t = tempDir("vocut-stall-");
    cleanups.push(t.cleanup);
    return t.dir;
  };

  it("keeps flushing after a group timer fires on a queue the flush loop already took", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const dir = newDir();
    const sync = controlledSync();
    const w = new AtomicWriter(dir, { makeDurable: sync.makeDurable });
    w.prepare();
    const done = new Set<string>();
    const put = (name: string): Promise<unknown> =>
      w.writeGrouped(join(dir, name), Buffer.from(name)).then(() => done.add(name));

    // 1. A is staged and arms the group timer; the timer starts a flush whose sync is slow.
    const a = put("a");
    await until(() => w.waiting === 1, "a staged");
    await vi.advanceTimersByTimeAsync(GROUP_MS);
    expect(sync.calls).toEqual([[expect.stringContaining(".part")]]);

    // 2. During that sync B is staged (arms a timer), the timer fires while the flush runs (asks for
    //    another pass), and C is staged after it (arms a new timer).
    const b = put("b");
    await until(() => w.waiting === 1, "b staged");
    await vi.advanceTimersByTimeAsync(GROUP_MS);
    const c = put("c");
    await until(() => w.waiting === 2, "c staged");

    // 3. The sync ends; the loop's next pass takes B and C before C's timer is due.
    sync.release();
    await until(() => sync.calls.length === 2, "second pass");
    expect(sync.calls[1]?.length).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    sync.release();
    await a;
    await b;
    await c;
    expect(sync.calls.length).toBe(2);

    // 4. C's timer (if still armed) fires on an empty queue. Later files must still be flushed.
    await vi.advanceTimersByTimeAsync(GROUP_MS * 2);
    const d = put("d");
    await until(() => w.waiting === 1, "d staged");
    await vi.advanceTimersByTimeAsync(GROUP_MS);
    expect(sync.calls.length).toBe(3);
    sync.release();
    await d;
    expect([...done].sort()).toEqual(["a", "b", "c", "d"]);
    expect(readFileSync(join(dir, "d"), "utf8")).toBe("d");

    // drain() returns (it used to spin on a settled promise, starving the event loop).
    await w.drain();
    w.close();
  });

  it("drain() on an idle writer returns at once and leaves no timer", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const dir = newDir();
    const sync = controlledSync();
    const w = new AtomicWriter(dir, { makeDurable: sync.makeDurable });
    w.prepare();
    const p = w.writeGrouped(join(dir, "x"), Buffer.from("x"));
    await until(() => w.waiting === 1, "x staged");
    const drained = w.drain();
    await until(() => sync.calls.length === 1, "drain flushes");
    sync.release();
    await drained;
    await p;
    expect(existsSync(join(dir, "x"))).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    await w.drain();
    w.close();
  });

  it("drain() called in the same turn as writeGrouped() sees that body: its group is flushed without the group timer", async () => {
    // The task loop drains as soon as its last task has handed its body over, before the temp file is
    // written. A drain that counted only bodies already past their first await returned at once, and the
    // last group then waited GROUP_MS for its timer: 200 ms at the end of every run.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const dir = newDir();
    const sync = controlledSync();
    const w = new AtomicWriter(dir, { makeDurable: sync.makeDurable });
    w.prepare();
    const p = w.writeGrouped(join(dir, "late", "y"), Buffer.from("y"));
    const drained = w.drain();
    expect(w.writingTemp).toBe(1);
    // No timer is advanced: only drain() can start this group's sync.
    await until(() => sync.calls.length === 1, "drain flushes the body it was called beside");
    sync.release();
    await drained;
    await p;
    expect(readFileSync(join(dir, "late", "y"), "utf8")).toBe("y");
    expect(w.writingTemp).toBe(0);
    w.close();
  });

  it("a random schedule of slow syncs and staging never strands a file (seeded)", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const dir = newDir();
    let seed = 12345;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    // Each sync lasts 0-600 ms of fake time.
    const w = new AtomicWriter(dir, {
      makeDurable: () => new Promise<void>((r) => setTimeout(r, Math.floor(rand() * 600))),
    });
    w.prepare();
    const promises: Promise<unknown>[] = [];
    let settled = 0;
    for (let i = 0; i < 300; i++) {
      promises.push(w.writeGrouped(join(dir, `f${i}`), Buffer.from(String(i))).then(() => settled++));
      await settleIo(); // past begin(), into the temp write
      await until(() => w.writingTemp === 0, `f${i} staged`);
      // Bursts and gaps: several files per group timer, and gaps longer than a group timer.
      if (rand() < 0.5) await vi.advanceTimersByTimeAsync(Math.floor(rand() * 400));
    }
    // Fake time must now bring every file home; on the old code the queue stalled for ever here.
    const end = performance.now() + 10_000;
    while (settled < 300 && performance.now() < end) {
      await vi.advanceTimersByTimeAsync(GROUP_MS);
      await settleIo();
    }
    expect(settled).toBe(300);
    await Promise.all(promises);
    w.close();
  });
});
