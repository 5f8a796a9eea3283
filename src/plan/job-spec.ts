import type { ProductListOptions } from "../catalog/product-list.js";
import type { CatalogOptions } from "../catalog/types.js";
import type { SourceConfig } from "../sources/create-source.js";
import type { Shard } from "./shard.js";

/**
 * Everything that defines a job's products. Stored in the ledger on first run and compared on resume;
 * `vocut fetch` rebuilds the whole job from it. Politeness settings (rate, concurrency) are not part of
 * it: they may change between runs.
 */
export interface JobSpec {
  readonly source: SourceConfig;
  /** Output layout relative to the output folder, e.g. "{band}/{id}.fits". */
  readonly layout: string;
  /** The catalog the job was planned from (absolute path) and how its columns were chosen. */
  readonly catalog: CatalogOptions & ProductListOptions & { readonly path: string };
  /** "tar" for a tar store (--store tar); absent for the files store, the default. */
  readonly store?: "tar";
  /** This process's part of the catalog (`--shard i/n`); absent for a whole job. */
  readonly shard?: Shard;
}
