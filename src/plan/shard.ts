import { createHash } from "node:crypto";
import type { CatalogEvent } from "../catalog/types.js";
import { usageError } from "../errors.js";

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
 * Parse `--shard i/n` (0-based i) or `--shard auto`, which reads SLURM_ARRAY_TASK_ID,
 * SLURM_ARRAY_TASK_COUNT and SLURM_ARRAY_TASK_MIN (so `--array=1-8` works as well as `--array=0-7`).
 * Throws a usage error.
 */
export function parseShard(text: string, env: NodeJS.ProcessEnv = process.env): Shard {
  if (text === "auto") {
    const id = env.SLURM_ARRAY_TASK_ID;
    const count = env.SLURM_ARRAY_TASK_COUNT;
    if (id === undefined || count === undefined) {
      throw usageError(
        "BAD_SHARD",
        "--shard auto needs SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT (run it inside `sbatch --array`), or give --shard i/n",
      );
    }
    const min = env.SLURM_ARRAY_TASK_MIN ?? "0";
    return checked(
      Number(id) - Number(min),
      Number(count),
      `auto (SLURM task ${id} of ${count}, min ${min})`,
    );
  }
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (m === null)
    throw usageError("BAD_SHARD", `--shard ${JSON.stringify(text)}: i/n (0-based, e.g. 0/4) or auto`);
  return checked(Number(m[1]), Number(m[2]), text);
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
