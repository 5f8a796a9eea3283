import type { LedgerJournalChoice } from "../ledger/journal.js";
import type { Shard } from "../plan/shard.js";

/** How a job fetches: politeness to each host, retries, limits and the ledger's journal. */
export interface RunSettings {
  readonly concurrency: number;
  readonly ratePerSec: number;
  readonly burst: number;
  readonly timeoutMs: number;
  readonly retries: number;
  /** Undefined: the job kind's default (DEFAULTS.maxBytes for cutouts, PRODUCT_MAX_BYTES for products). */
  readonly maxBytes?: number;
  readonly maxDurationMs?: number;
  /** Watchdog: stop (exit 5) after this long busy without progress, ms; undefined = off (--stall-timeout 0). */
  readonly stallTimeoutMs?: number;
  /** Circuit breaker: consecutive failures that pause a host, pause length, pauses before giving up. */
  readonly breakerFailures: number;
  readonly breakerPauseMs: number;
  readonly breakerMaxOpens: number;
  readonly contact?: string;
  /** Memory for decoded HiPS tiles, bytes (--tile-cache-mb). */
  readonly tileCacheBytes: number;
  /** Disk for shared downloads in OUT/.vocut-cache, bytes (--cache-gb). */
  readonly cacheBytes: number;
  /** --ledger-journal: how the ledger journals and locks (auto: from its file system). */
  readonly ledgerJournal: LedgerJournalChoice;
  /** --store tar: bytes at which a tar file is closed (--tar-size). */
  readonly tarBytes: number;
}

/**
 * A shard's share of the politeness budget: 1/n of the per-host rate and of the connections (at least
 * one), so n shards together ask a server no faster than one process would.
 */
export function shareOfRun(run: RunSettings, shard: Shard | undefined): RunSettings {
  if (shard === undefined || shard.count === 1) return run;
  return Object.freeze({
    ...run,
    ratePerSec: run.ratePerSec / shard.count,
    concurrency: Math.max(1, Math.ceil(run.concurrency / shard.count)),
  });
}
