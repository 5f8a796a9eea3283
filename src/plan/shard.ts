import { createHash, randomBytes } from "node:crypto";
import { linkSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { CatalogEvent } from "../catalog/types.js";
import { inputError, usageError } from "../errors.js";

/**
 * Scale-out over independent processes (SLURM job arrays): shard i of n takes the targets whose id hashes
 * to i, keeps its own ledger, and gets 1/n of the per-host rate, so n nodes together ask no faster than one.
 */
export interface Shard {
  /** 0-based. */
  readonly index: number;
  readonly count: number;
}

/**
 * What the first `--shard auto` run of an output folder recorded in OUT/vocut.shards.json: the number of
 * shards and the SLURM task id of shard 0. A resubmission of part of the array (`sbatch --array=1,3`)
 * sees only that part in SLURM_ARRAY_TASK_COUNT and _MIN, so it takes the split from here instead.
 */
export interface ShardRecord {
  readonly count: number;
  /** The SLURM_ARRAY_TASK_ID of shard 0 (0 for `--array=0-7`, 1 for `--array=1-8`). */
  readonly firstTaskId: number;
}

/** The record's file name inside OUT. */
export const SHARD_RECORD_FILE = "vocut.shards.json";

/**
 * Parse `--shard i/n` (0-based i), `--shard auto:N` or `--shard auto`. Both auto forms read
 * SLURM_ARRAY_TASK_ID. `auto:N` takes the shard count from the flag and the task id as the shard index
 * (less `recorded.firstTaskId`, else 0: submit `--array=0-(N-1)`). Plain `auto` takes count and offset
 * from `recorded` when given, else from SLURM_ARRAY_TASK_COUNT and SLURM_ARRAY_TASK_MIN (so `--array=1-8`
 * works as well as `--array=0-7`), and refuses an array that is not one whole range (`--array=1,3`: its
 * count and min describe the subset, not the split). Throws a usage error.
 */
export function parseShard(text: string, env: NodeJS.ProcessEnv, recorded?: ShardRecord): Shard {
  const auto = /^auto(?::(\d+))?$/.exec(text.trim());
  if (auto !== null) {
    const id = env.SLURM_ARRAY_TASK_ID;
    if (id === undefined || !/^\d+$/.test(id)) {
      throw usageError(
        "BAD_SHARD",
        `--shard ${text} needs SLURM_ARRAY_TASK_ID (run it inside \`sbatch --array\`), or give --shard i/n`,
      );
    }
    const first = recorded?.firstTaskId ?? 0;
    if (auto[1] !== undefined) {
      return checked(
        Number(id) - first,
        Number(auto[1]),
        `${text} (SLURM task ${id}${first === 0 ? "" : `, shard 0 is task ${first}`}; the array's task ids must be ${first}..${first + Number(auto[1]) - 1})`,
      );
    }
    if (recorded !== undefined) {
      return checked(
        Number(id) - first,
        recorded.count,
        `auto (SLURM task ${id}; ${recorded.count} shard(s) from task ${first} on, as recorded by the first submission in ${SHARD_RECORD_FILE})`,
      );
    }
    const count = env.SLURM_ARRAY_TASK_COUNT;
    if (count === undefined) {
      throw usageError(
        "BAD_SHARD",
        "--shard auto needs SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT (run it inside `sbatch --array`), or give --shard auto:N or i/n",
      );
    }
    const min = env.SLURM_ARRAY_TASK_MIN ?? "0";
    const max = env.SLURM_ARRAY_TASK_MAX;
    if (max !== undefined && Number(max) - Number(min) + 1 !== Number(count)) {
      throw usageError(
        "BAD_SHARD",
        `--shard auto: this array (tasks ${min}..${max}) has ${count} task(s), not one whole range, so it cannot tell the number of shards; give it: --shard auto:N (task ids 0..N-1)`,
      );
    }
    return checked(
      Number(id) - Number(min),
      Number(count),
      `auto (SLURM task ${id} of ${count}, min ${min})`,
    );
  }
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (m === null)
    throw usageError("BAD_SHARD", `--shard ${JSON.stringify(text)}: i/n (0-based, e.g. 0/4), auto:N or auto`);
  return checked(Number(m[1]), Number(m[2]), text);
}

/**
 * Resolve `--shard` for a run writing into outDir, so a resubmission never plans another split than the
 * first: read the record (OUT/vocut.shards.json) that the first `auto` run wrote, parse, and refuse (usage
 * error, exit 2) a shard count that disagrees with the record or with the shard ledgers already in outDir,
 * naming them. The first `auto` or `auto:N` run writes the record (`write`, default true; false for a dry
 * run); tasks starting together race safely, as the record is created whole by link(2) or not at all.
 * A record that is not one fails with exit 3.
 */
export function shardForOut(
  text: string,
  outDir: string,
  options: { readonly env: NodeJS.ProcessEnv; readonly write?: boolean },
): Shard {
  const env = options.env;
  const recordFile = join(outDir, SHARD_RECORD_FILE);
  const isAuto = text.trim().startsWith("auto");
  let recorded = readShardRecord(recordFile);
  const shard = parseShard(text, env, isAuto ? recorded : undefined);
  const others = shardLedgersIn(outDir).filter((l) => l.count !== shard.count);
  if (others.length > 0) {
    const n = others[0]?.count ?? 0;
    const names = others.map((l) => l.name);
    const shown = names.length > 6 ? [...names.slice(0, 6), `and ${names.length - 6} more`] : names;
    throw usageError(
      "SHARD_COUNT_MISMATCH",
      `--shard ${text} splits the catalog into ${shard.count} shard(s), but ${outDir} already holds shard ledgers of another split: ${shown.join(", ")}. ` +
        `Submit again with the same number of shards (--shard auto:${n} or i/${n}), or use another --out`,
    );
  }
  if (isAuto && recorded === undefined && options.write !== false) {
    const first = /^auto$/.test(text.trim()) ? Number(env.SLURM_ARRAY_TASK_MIN ?? "0") : 0;
    recorded = writeShardRecord(recordFile, { count: shard.count, firstTaskId: first });
  }
  if (recorded !== undefined && recorded.count !== shard.count) {
    throw usageError(
      "SHARD_COUNT_MISMATCH",
      `--shard ${text} splits the catalog into ${shard.count} shard(s), but ${recordFile} records ${recorded.count} from the first submission. ` +
        `Submit again with --shard auto:${recorded.count}, or use another --out (or delete the record if no shard has run yet)`,
    );
  }
  return shard;
}

/** The shard ledgers (vocut.shard-I-of-N.db) in a folder; none if it does not exist. */
export function shardLedgersIn(dir: string): Array<{ name: string; index: number; count: number }> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const out: Array<{ name: string; index: number; count: number }> = [];
  for (const name of names.sort()) {
    const m = /^vocut\.shard-(\d+)-of-(\d+)\.db$/.exec(name);
    if (m !== null) out.push({ name, index: Number(m[1]), count: Number(m[2]) });
  }
  return out;
}

function readShardRecord(file: string): ShardRecord | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw inputError("BAD_SHARD_RECORD", `cannot read ${file}: ${(err as Error).message}`, err);
  }
  let r: unknown;
  try {
    r = JSON.parse(text);
  } catch {
    r = undefined;
  }
  const { count, firstTaskId } = (r ?? {}) as Record<string, unknown>;
  if (
    !Number.isSafeInteger(count) ||
    (count as number) < 1 ||
    !Number.isSafeInteger(firstTaskId) ||
    (firstTaskId as number) < 0
  ) {
    throw inputError(
      "BAD_SHARD_RECORD",
      `${file} is not a vocut shard record ({"count": N, "firstTaskId": I}): restore it, or delete it if no shard has run yet`,
    );
  }
  return { count: count as number, firstTaskId: firstTaskId as number };
}

/** Create the record whole or not at all; if another task created it first, return theirs. */
function writeShardRecord(file: string, record: ShardRecord): ShardRecord {
  mkdirSync(dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}`;
  writeFileSync(temp, `${JSON.stringify(record)}\n`);
  try {
    // link(2) fails if the name exists, and the name never points at a half-written file (also on NFS).
    linkSync(temp, file);
    return record;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    return readShardRecord(file) ?? record;
  } finally {
    rmSync(temp, { force: true });
  }
}

function checked(index: number, count: number, what: string): Shard {
  if (!Number.isSafeInteger(count) || count < 1 || count > 100_000) {
    throw usageError("BAD_SHARD", `--shard ${what}: the shard count must be 1..100000`);
  }
  if (!Number.isSafeInteger(index) || index < 0 || index >= count) {
    throw usageError("BAD_SHARD", `--shard ${what}: the shard index must be 0..${count - 1}`);
  }
  return { index, count };
}

/** The shard a target id belongs to: the first 32 bits of its SHA-256, modulo n. Stable across runs and machines. */
export function shardOf(id: string, count: number): number {
  if (count === 1) return 0;
  return createHash("sha256").update(id, "utf8").digest().readUInt32BE(0) % count;
}

/** "shard-2-of-8": used in ledger and temp folder names. */
export function shardLabel(s: Shard): string {
  return `shard-${s.index}-of-${s.count}`;
}

/**
 * Keep this shard's targets. Bad rows are reported by shard 0 only (every shard reads the whole
 * catalog; n copies of each message would bury the logs); the others drop them silently.
 */
export async function* shardEvents(
  events: AsyncIterable<CatalogEvent>,
  s: Shard,
): AsyncGenerator<CatalogEvent> {
  for await (const ev of events) {
    if (ev.kind === "bad") {
      if (s.index === 0) yield ev;
    } else if (shardOf(ev.target.id, s.count) === s.index) {
      yield ev;
    }
  }
}
