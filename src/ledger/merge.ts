import { join, resolve } from "node:path";
import { inputError, usageError } from "../errors.js";
import { Ledger } from "./ledger.js";

/** What merging shard ledgers did (`vocut merge --json` prints it). */
export interface MergeSummary {
  readonly into: string;
  readonly shards: ReadonlyArray<{
    readonly ledger: string;
    readonly index: number;
    readonly targets: number;
    readonly tasks: number;
  }>;
  readonly count: number;
  readonly missing: readonly number[];
  readonly byState: Readonly<Record<string, number>>;
}

/** Where and what to merge. */
export interface MergeOptions {
  /** The shard ledgers (files). */
  readonly parts: readonly string[];
  /** The merged ledger; default `ledgerFile` in the shards' output folder (or the current one). */
  readonly into: string | undefined;
  /** The merged ledger's file name when `into` is not given (the CLI's `vocut.db`). */
  readonly ledgerFile: string;
  /** Merge even if some shards are missing. */
  readonly partial: boolean;
}

/** The part of a job's parameters merging looks at: its shard (the rest is compared whole). */
type ShardedJob = Readonly<Record<string, unknown>> & {
  readonly shard?: { readonly index: number; readonly count: number };
};

/** The job without its shard: what every part must share, and what the merged ledger holds. */
function wholeJob(spec: ShardedJob): Record<string, unknown> {
  const { shard: _, ...rest } = spec;
  return rest;
}

/**
 * Merge shard ledgers (`--shard i/n` runs) into one ledger of the whole job, for `status`, `export`,
 * `preview`, or to finish the job in one process with `vocut fetch`. Each part is locked while it is
 * read (a shard still running makes this exit 6). All parts must be shards of one job with the same n;
 * missing shards are an error unless `partial`. Merging again after the shards progressed updates the
 * merged ledger. Throws VocutError: exit 2 for a shard given twice, missing or the target among the
 * parts; exit 3 for a part that is no shard, of another job, or whose rows clash.
 */
export function mergeShards(options: MergeOptions): MergeSummary {
  const { parts, into, partial } = options;
  if (parts.length === 0) throw usageError("NO_LEDGERS", "give the shard ledgers to merge");
  const opened: Array<{ path: string; ledger: Ledger; spec: ShardedJob }> = [];
  try {
    for (const p of parts) {
      const path = resolve(p);
      const ledger = Ledger.open(path, { create: false });
      const spec = ledger.job<ShardedJob>();
      // Pushed before the check, so that the finally below closes it too.
      opened.push({ path, ledger, spec: spec as ShardedJob });
      if (spec?.shard === undefined) {
        throw inputError("NOT_A_SHARD", `${path} is not the ledger of a --shard run`);
      }
    }
    const first = opened[0] as (typeof opened)[number];
    const count = first.spec.shard?.count ?? 1;
    const job = wholeJob(first.spec);
    const seen = new Map<number, string>();
    for (const o of opened) {
      const s = o.spec.shard as NonNullable<ShardedJob["shard"]>;
      if (s.count !== count) {
        throw inputError(
          "MERGE_MISMATCH",
          `${o.path} is shard ${s.index}/${s.count}, ${first.path} is of ${count}`,
        );
      }
      if (JSON.stringify(wholeJob(o.spec)) !== JSON.stringify(job)) {
        throw inputError(
          "MERGE_MISMATCH",
          `${o.path} holds another job than ${first.path} (source, layout or catalog differ)`,
        );
      }
      const dup = seen.get(s.index);
      if (dup !== undefined)
        throw usageError("MERGE_TWICE", `shard ${s.index} given twice: ${dup} and ${o.path}`);
      seen.set(s.index, o.path);
    }
    const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !seen.has(i));
    if (missing.length > 0 && !partial) {
      throw usageError(
        "MERGE_INCOMPLETE",
        `shard(s) ${missing.join(", ")} of ${count} not given; add them, or --partial to merge what is here`,
      );
    }
    const out = first.ledger.getMeta<string>("out");
    const target = resolve(into ?? join(out ?? ".", options.ledgerFile));
    if (opened.some((o) => o.path === target))
      throw usageError("MERGE_INTO_PART", `--into ${target} is one of the parts`);
    const merged = Ledger.open(target, { create: true });
    try {
      merged.checkJob(job);
      if (out !== undefined) merged.setMeta("out", out);
      const shards = opened.map((o) => ({
        ledger: o.path,
        index: (o.spec.shard as NonNullable<ShardedJob["shard"]>).index,
        ...merged.mergeFrom(o.path),
      }));
      merged.setMeta("merged", { at: Date.now(), count, shards, missing });
      return { into: target, shards, count, missing, byState: { ...merged.counts().byState } };
    } finally {
      merged.close();
    }
  } finally {
    for (const o of opened) o.ledger.close();
  }
}
