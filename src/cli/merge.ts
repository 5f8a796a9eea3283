import { join, resolve } from "node:path";
import { Command } from "commander";
import { ExitCode, inputError, usageError } from "../errors.js";
import { Ledger } from "../ledger/ledger.js";
import type { JobSpec } from "../plan/job-spec.js";
import { LEDGER_FILE, ledgerPath } from "./config.js";

/** What `vocut merge` did. */
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

/** The job without its shard: what every part must share, and what the merged ledger holds. */
function wholeJob(spec: JobSpec): JobSpec {
  const { shard: _, ...rest } = spec;
  return rest;
}

/**
 * Merge shard ledgers (`--shard i/n` runs) into one ledger of the whole job, for `status`, `export`,
 * `preview`, or to finish the job in one process with `vocut fetch`. Each part is locked while it is
 * read (a shard still running makes this exit 6). All parts must be shards of one job with the same n;
 * missing shards are an error unless `partial`. Merging again after the shards progressed updates the
 * merged ledger.
 */
export function mergeLedgers(
  parts: readonly string[],
  into: string | undefined,
  partial: boolean,
): MergeSummary {
  if (parts.length === 0) throw usageError("NO_LEDGERS", "give the shard ledgers to merge");
  const opened: Array<{ path: string; ledger: Ledger; spec: JobSpec }> = [];
  try {
    for (const p of parts) {
      const path = resolve(ledgerPath(p));
      const ledger = Ledger.open(path, { create: false });
      const spec = ledger.job<JobSpec>();
      // Pushed before the check, so that the finally below closes it too.
      opened.push({ path, ledger, spec: spec as JobSpec });
      if (spec?.shard === undefined) {
        throw inputError("NOT_A_SHARD", `${path} is not the ledger of a --shard run`);
      }
    }
    const first = opened[0] as (typeof opened)[number];
    const count = first.spec.shard?.count ?? 1;
    const job = wholeJob(first.spec);
    const seen = new Map<number, string>();
    for (const o of opened) {
      const s = o.spec.shard as NonNullable<JobSpec["shard"]>;
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
    const target = resolve(into ?? join(out ?? ".", LEDGER_FILE));
    if (opened.some((o) => o.path === target))
      throw usageError("MERGE_INTO_PART", `--into ${target} is one of the parts`);
    const merged = Ledger.open(target, { create: true });
    try {
      merged.checkJob(job as unknown as Record<string, unknown>);
      if (out !== undefined) merged.setMeta("out", out);
      const shards = opened.map((o) => ({
        ledger: o.path,
        index: (o.spec.shard as NonNullable<JobSpec["shard"]>).index,
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

/**
 * `vocut merge LEDGER... [--into FILE]`. `--ledger FILE` is `--into` under the name every other command
 * gives the job's ledger: the merged ledger is the one `status`/`fetch`/`export --ledger` then read.
 */
export function mergeCommand(setExit: (code: ExitCode) => void): Command {
  return new Command("merge")
    .description(
      "combine the ledgers of --shard runs into one ledger of the whole job (for status, export, preview, fetch)",
    )
    .argument("<ledgers...>", "shard ledgers (OUT/vocut.shard-I-of-N.db)")
    .option("--into <file>", "merged ledger (default: OUT/vocut.db of the shards' output folder)")
    .option("--ledger <file>", "the same as --into: the job's (merged) ledger, as other commands take it")
    .option("--partial", "merge even if some shards are missing")
    .option("--json", "print the summary as one JSON document")
    .action((parts: string[], o: { into?: string; ledger?: string; partial?: boolean; json?: boolean }) => {
      // A folder names its vocut.db, as for the other commands' --ledger.
      const asLedger = o.ledger === undefined ? undefined : ledgerPath(o.ledger);
      if (o.into !== undefined && asLedger !== undefined && resolve(o.into) !== resolve(asLedger))
        throw usageError("TWO_LEDGERS", `--into ${o.into} and --ledger ${o.ledger} differ: give one`);
      const s = mergeLedgers(parts, o.into ?? asLedger, o.partial === true);
      if (o.json === true) process.stdout.write(`${JSON.stringify(s)}\n`);
      else {
        const states = Object.entries(s.byState)
          .filter(([, n]) => n > 0)
          .map(([k, n]) => `${n} ${k}`)
          .join(", ");
        process.stdout.write(
          `merged ${s.shards.length} of ${s.count} shard(s) into ${s.into}: ${states || "no tasks"}` +
            (s.missing.length > 0 ? `; missing shard(s) ${s.missing.join(", ")}` : "") +
            "\n",
        );
      }
      setExit(ExitCode.Ok);
    });
}
