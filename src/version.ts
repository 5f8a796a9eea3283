import { createRequire } from "node:module";

/** vocut's version, read from package.json (one source of truth; works from src/ and dist/). */
export const VERSION: string = (createRequire(import.meta.url)("../package.json") as { version: string })
  .version;

/** The User-Agent every request carries, naming vocut, its version and an optional contact address. */
export function userAgent(contact?: string): string {
  return `vocut/${VERSION} (bulk cutout downloader${contact ? `; ${contact}` : ""})`;
}
