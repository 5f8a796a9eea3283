import { readProductList } from "../catalog/product-list.js";
import { readCatalog } from "../catalog/read-catalog.js";
import type { CatalogEvent } from "../catalog/types.js";
import type { JobSpec } from "./job-spec.js";

/** What a job is planned from: its rows, and warnings that are known once the rows are read. */
export interface JobInput {
  readonly events: AsyncIterable<CatalogEvent>;
  /** Complete after `events` is exhausted (e.g. a TAP result truncated at MAXREC). */
  readonly notes: readonly string[];
}

/** Open a job's catalog: a list of products for `vocut obscore`, a catalog of positions otherwise. */
export async function openJobInput(spec: JobSpec): Promise<JobInput> {
  if (spec.source.kind === "products") return readProductList(spec.catalog.path, spec.catalog);
  const c = await readCatalog(spec.catalog.path, spec.catalog);
  return { events: c.events, notes: [] };
}
