import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { VocutError } from "../../src/errors.js";
import { parseShard, SHARD_RECORD_FILE, shardForOut, shardLedgersIn } from "../../src/plan/shard.js";
import { tempDir } from "../helpers/cli.js";

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.cleanup());

/** The SLURM variables of one task of `sbatch --array=SPEC`, as sbatch sets them. */
function task(id: number, ids: readonly number[]): NodeJS.ProcessEnv {
  return {
    SLURM_ARRAY_TASK_ID: String(id),
    SLURM_ARRAY_TASK_COUNT: String(ids.length),
    SLURM_ARRAY_TASK_MIN: String(Math.min(...ids)),
    SLURM_ARRAY_TASK_MAX: String(Math.max(...ids)),
  };
}

/** The exit code and message of what fn throws. */
function refusal(fn: () => unknown): { exit: number; message: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof VocutError) return { exit: err.exitCode, message: err.message };
    throw err;
  }
  throw new Error("did not throw");
}

describe("--shard auto:N and the split recorded in OUT", () => {
  it("auto:N takes the count from the flag and the task id as the index, whatever part of the array runs", () => {
    // sbatch --array=1,3 (a resubmission of two tasks): count 2, min 1 describe the subset.
    expect(parseShard("auto:4", task(3, [1, 3]))).toEqual({ index: 3, count: 4 });
    expect(parseShard("auto:4", task(0, [0, 1, 2, 3]))).toEqual({ index: 0, count: 4 });
    // A first submission that began at 1 recorded it: task 4 is shard 3.
    expect(parseShard("auto:4", task(4, [4]), { count: 4, firstTaskId: 1 })).toEqual({
      index: 3,
      count: 4,
    });
    expect(() => parseShard("auto:4", task(4, [1, 2, 3, 4]))).toThrow(
      /task ids must be 0..3.*index must be 0..3/s,
    );
    expect(() => parseShard("auto:0", task(0, [0]))).toThrow(/count must be 1..100000/);
    expect(() => parseShard("auto:4", {})).toThrow(/needs SLURM_ARRAY_TASK_ID/);
    expect(() => parseShard("auto:x", task(0, [0]))).toThrow(/auto:N or auto/);
    expect(() => parseShard("auto:", task(0, [0]))).toThrow(/auto:N or auto/);
  });

  it("plain auto refuses an array that is not one whole range, unless OUT recorded the split", () => {
    expect(() => parseShard("auto", task(3, [1, 3]))).toThrow(/not one whole range.*--shard auto:N/);
    expect(parseShard("auto", task(3, [1, 3]), { count: 4, firstTaskId: 0 })).toEqual({
      index: 3,
      count: 4,
    });
    // --array=1-8 first, then --array=8 again: task 8 is still shard 7 of 8.
    expect(parseShard("auto", task(8, [8]), { count: 8, firstTaskId: 1 })).toEqual({
      index: 7,
      count: 8,
    });
    expect(() => parseShard("auto", task(0, [0]), { count: 8, firstTaskId: 1 })).toThrow(
      /index must be 0..7/,
    );
    // Without SLURM_ARRAY_TASK_MAX (older SLURM) the count and min are taken as they are.
    expect(parseShard("auto", { SLURM_ARRAY_TASK_ID: "2", SLURM_ARRAY_TASK_COUNT: "4" })).toEqual({
      index: 2,
      count: 4,
    });
  });

  it("the first auto run records the split; a resubmission of one task (count 1, min 1) keeps it", () => {
    const out = join(tmp.dir, "out");
    expect(shardForOut("auto", out, { env: task(2, [0, 1, 2, 3]) })).toEqual({ index: 2, count: 4 });
    expect(JSON.parse(readFileSync(join(out, SHARD_RECORD_FILE), "utf8"))).toEqual({
      count: 4,
      firstTaskId: 0,
    });
    // Another task of the first submission reads the same record.
    expect(shardForOut("auto", out, { env: task(0, [0, 1, 2, 3]) })).toEqual({ index: 0, count: 4 });
    // sbatch --array=1: SLURM says count 1, min 1; the record says shard 1 of 4.
    expect(shardForOut("auto", out, { env: task(1, [1]) })).toEqual({ index: 1, count: 4 });
    expect(shardForOut("auto:4", out, { env: task(3, [1, 3]) })).toEqual({ index: 3, count: 4 });
    expect(shardForOut("2/4", out, { env: {} })).toEqual({ index: 2, count: 4 });
    const r = refusal(() => shardForOut("auto:8", out, { env: task(1, [1]) }));
    expect(r.exit).toBe(2);
    expect(r.message).toContain(`${join(out, SHARD_RECORD_FILE)} records 4`);
    expect(refusal(() => shardForOut("0/2", out, { env: {} })).exit).toBe(2);
  });

  it("an array starting at 1 is recorded with its first task id", () => {
    const out = join(tmp.dir, "out");
    expect(shardForOut("auto", out, { env: task(1, [1, 2, 3]) })).toEqual({ index: 0, count: 3 });
    expect(shardForOut("auto", out, { env: task(3, [3]) })).toEqual({ index: 2, count: 3 });
  });

  it("refuses a count that disagrees with the shard ledgers in OUT, naming them, and writes nothing then", () => {
    const out = tmp.dir;
    for (const i of [0, 1, 2, 3]) writeFileSync(join(out, `vocut.shard-${i}-of-4.db`), "");
    writeFileSync(join(out, "vocut.db"), "");
    expect(shardLedgersIn(out).map((l) => l.name)).toEqual([
      "vocut.shard-0-of-4.db",
      "vocut.shard-1-of-4.db",
      "vocut.shard-2-of-4.db",
      "vocut.shard-3-of-4.db",
    ]);
    // The case: no record (an older run), then `sbatch --array=1` with plain auto.
    const r = refusal(() => shardForOut("auto", out, { env: task(1, [1]) }));
    expect(r.exit).toBe(2);
    expect(r.message).toMatch(/into 1 shard\(s\)/);
    expect(r.message).toContain("vocut.shard-0-of-4.db, vocut.shard-1-of-4.db");
    expect(r.message).toContain("--shard auto:4 or i/4");
    expect(existsSync(join(out, SHARD_RECORD_FILE))).toBe(false);
    expect(refusal(() => shardForOut("1/2", out, { env: {} })).exit).toBe(2);
    expect(refusal(() => shardForOut("auto:8", out, { env: task(1, [1]) })).exit).toBe(2);
    // The same count is accepted, and a dry run records nothing.
    expect(shardForOut("auto:4", out, { env: task(1, [1]), write: false })).toEqual({
      index: 1,
      count: 4,
    });
    expect(existsSync(join(out, SHARD_RECORD_FILE))).toBe(false);
    expect(shardForOut("3/4", out, { env: {} })).toEqual({ index: 3, count: 4 });
    // Many ledgers: the message names a few and counts the rest.
    for (let i = 0; i < 10; i++) writeFileSync(join(out, `vocut.shard-${i}-of-10.db`), "");
    expect(refusal(() => shardForOut("0/4", out, { env: {} })).message).toMatch(
      /vocut\.shard-5-of-10\.db, and 4 more/,
    );
  });

  it("a damaged record is unreadable input (exit 3), not a silent new split", () => {
    const out = tmp.dir;
    writeFileSync(join(out, SHARD_RECORD_FILE), '{"count": "four"}');
    const r = refusal(() => shardForOut("auto", out, { env: task(0, [0, 1]) }));
    expect(r.exit).toBe(3);
    expect(r.message).toMatch(/not a vocut shard record/);
    writeFileSync(join(out, SHARD_RECORD_FILE), "");
    expect(refusal(() => shardForOut("auto:2", out, { env: task(0, [0, 1]) })).exit).toBe(3);
    // i/n does not need the record, but a damaged one is still reported.
    expect(refusal(() => shardForOut("0/2", out, { env: {} })).exit).toBe(3);
  });
});
