import { usageError } from "../errors.js";
import type { Ledger } from "../ledger/ledger.js";
import { FileStore, type Store, type StoreKind } from "../output/store.js";
import { type TarCommitted, TarStore } from "../output/tar-store.js";
import type { AtomicWriter } from "../output/write-atomic.js";
import type { JobSpec } from "../plan/job-spec.js";
import { shardLabel } from "../plan/shard.js";
import type { RunReporter } from "./run-reporter.js";
import type { RunSettings } from "./run-settings.js";

/** The store a job keeps its products in (its spec's store; files unless planned with --store tar). */
export function storeOf(spec: JobSpec): StoreKind {
  return spec.store === "tar" ? "tar" : "files";
}

/**
 * The store of job `spec`, recovered for this run: the files store writes through `writer` (whose temp
 * folder was prepared); a tar store cuts this part's tar files back to what the ledger committed.
 * `given` is the store asked for on the command line of fetch/retry: another one than the job's is a
 * usage error (exit 2), as for any job parameter. Call holding the ledger's lock.
 */
export function openStore(
  ledger: Ledger,
  spec: JobSpec,
  outDir: string,
  writer: AtomicWriter,
  run: RunSettings,
  reporter: RunReporter,
  given: StoreKind | undefined,
  now: () => number,
): Store {
  const kind = storeOf(spec);
  if (given !== undefined && given !== kind) {
    throw usageError(
      "JOB_MISMATCH",
      `ledger ${ledger.path} was planned with --store ${kind}, this command gives --store ${given}: a job keeps its store`,
    );
  }
  if (kind === "files") return new FileStore(writer);
  const store = new TarStore(outDir, {
    part: spec.shard === undefined ? "job" : shardLabel(spec.shard),
    maxBytes: run.tarBytes,
    now,
  });
  const committed = new Map<string, TarCommitted>(ledger.tarFiles().map((r) => [r.shard, r]));
  const r = store.recover(committed);
  if (r.removed > 0)
    reporter.info(`removed ${r.removed} tar file(s) with no committed member (an earlier run was killed)`);
  return store;
}
