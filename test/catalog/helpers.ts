import { fileURLToPath } from "node:url";
import { readCatalog } from "../../src/catalog/read-catalog.js";
import type { BadRow, CatalogOptions, Target } from "../../src/catalog/types.js";

/** Absolute path of a file in fixtures/catalog. */
export const fixture = (name: string): string =>
  fileURLToPath(new URL(`../../fixtures/catalog/${name}`, import.meta.url));

/** Read a whole catalog into targets and bad rows. */
export async function readAll(
  path: string,
  options: CatalogOptions = {},
): Promise<{
  targets: Target[];
  bad: BadRow[];
  columns: Awaited<ReturnType<typeof readCatalog>>["columns"];
}> {
  const cat = await readCatalog(path, options);
  const targets: Target[] = [];
  const bad: BadRow[] = [];
  for await (const e of cat.events) {
    if (e.kind === "target") targets.push(e.target);
    else bad.push(e.bad);
  }
  return { targets, bad, columns: cat.columns };
}
