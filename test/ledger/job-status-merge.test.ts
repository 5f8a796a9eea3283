import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ExitCode, VocutError } from "../../src/errors.js";
import { readJobStatus } from "../../src/ledger/job-status.js";
import { Ledger } from "../../src/ledger/ledger.js";
import { mergeShards } from "../../src/ledger/merge.js";
import { tempDir } from "../helpers/cli.js";

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.cleanup());

interface Job {
  readonly bands: readonly string[];
  readonly shard?: { readonly index: number; readonly count: number };
}
const target = (row: number) => ({ row, id: `obj${row}`, safeId: `obj${row}`, raDeg: row, decDeg: 0 });

/** A ledger of `rows` targets x 2 bands whose first `done` claimed tasks are done (one commit). */
function ledgerWith(file: string, job: Job, rows: readonly number[], done: number): void {
  const l = Ledger.open(file, { create: true });
  l.checkJob(job as unknown as Record<string, unknown>);
  l.setMeta("out", dirname(file));
  l.transaction(() => {
    for (const r of rows) l.addTarget(target(r), job.bands.length);
  });
  for (const t of l.claim(done)) l.complete(t.seq, { kind: "done", bytes: 10, sha256: "0".repeat(64) });
  l.flush();
  l.requeue({ running: true });
  l.close();
}

describe("readJobStatus (ledger/job-status.ts)", () => {
  it("counts by state and by band from the ledger itself, bands named through bandsOf", () => {
    const file = join(tmp.dir, "vocut.db");
    ledgerWith(file, { bands: ["g", "r"] }, [1, 2, 3], 4);
    const st = readJobStatus<Job>(file, { bandsOf: (j) => j.bands });
    expect(st.from).toBe("ledger");
    expect(st.bands).toEqual(["g", "r"]);
    expect(st.total).toBe(6);
    expect(st.byState).toMatchObject({ done: 4, pending: 2 });
    const perBand = Object.values(st.byBand).map((b) => (b.done ?? 0) + (b.pending ?? 0));
    expect(perBand).toEqual([3, 3]);
    expect(st.lock).toBeNull();
    expect(st.merged).toBeNull();
  });

  it("a missing ledger is unreadable input (exit 3)", () => {
    const err = (() => {
      try {
        readJobStatus<Job>(join(tmp.dir, "none.db"), { bandsOf: (j) => j.bands });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(VocutError);
    expect((err as VocutError).exitCode).toBe(ExitCode.Input);
  });
});

describe("mergeShards (ledger/merge.ts)", () => {
  const shardFile = (i: number) => join(tmp.dir, `vocut.shard-${i}-of-2.db`);
  const make = (): void => {
    ledgerWith(shardFile(0), { bands: ["g", "r"], shard: { index: 0, count: 2 } }, [1, 2], 3);
    ledgerWith(shardFile(1), { bands: ["g", "r"], shard: { index: 1, count: 2 } }, [3, 4, 5], 1);
  };

  it("merges every shard into one ledger of the whole job, and merging again changes nothing", () => {
    make();
    const into = join(tmp.dir, "vocut.db");
    const s = mergeShards({
      parts: [shardFile(0), shardFile(1)],
      into,
      ledgerFile: "vocut.db",
      partial: false,
    });
    expect(s.into).toBe(into);
    expect(s.count).toBe(2);
    expect(s.missing).toEqual([]);
    expect(s.shards.map((x) => [x.index, x.targets, x.tasks])).toEqual([
      [0, 2, 4],
      [1, 3, 6],
    ]);
    expect(s.byState).toMatchObject({ done: 4, pending: 6 });
    const st = readJobStatus<Job>(into, { bandsOf: (j) => j.bands });
    expect(st.total).toBe(10);
    expect(st.merged).toMatchObject({ shards: 2, count: 2, missing: [] });
    const again = mergeShards({
      parts: [shardFile(0), shardFile(1)],
      into,
      ledgerFile: "vocut.db",
      partial: false,
    });
    expect(again.byState).toEqual(s.byState);
  });

  it("a missing shard is refused (exit 2) unless partial, which names it", () => {
    make();
    let err: unknown;
    try {
      mergeShards({ parts: [shardFile(0)], into: undefined, ledgerFile: "vocut.db", partial: false });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VocutError);
    expect((err as VocutError).exitCode).toBe(ExitCode.Usage);
    const s = mergeShards({ parts: [shardFile(0)], into: undefined, ledgerFile: "vocut.db", partial: true });
    expect(s.into).toBe(join(tmp.dir, "vocut.db"));
    expect(s.missing).toEqual([1]);
  });

  it("a part of another job is refused (exit 3)", () => {
    make();
    const other = join(tmp.dir, "other.db");
    ledgerWith(other, { bands: ["g", "i"], shard: { index: 1, count: 2 } }, [9], 0);
    let err: unknown;
    try {
      mergeShards({
        parts: [shardFile(0), other],
        into: undefined,
        ledgerFile: "vocut.db",
        partial: false,
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VocutError);
    expect((err as VocutError).exitCode).toBe(ExitCode.Input);
  });
});
