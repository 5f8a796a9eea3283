import { createRequire } from "node:module";

/**
 * vocut's version, read from package.json (one source of truth): one folder up from src/version.ts and
 * dist/version.js, two from the bundled CLI in dist/cli/.
 */
function readVersion(): string {
  const load = createRequire(import.meta.url);
  for (const rel of ["../package.json", "../../package.json"]) {
    try {
      const pkg = load(rel) as { name?: string; version?: string };
      if (pkg.name === "vocut" && typeof pkg.version === "string") return pkg.version;
    } catch {
      // not here: one more folder up
    }
  }
  return "0.0.0-unknown";
}

export const VERSION: string = readVersion();

/** The User-Agent every request carries, naming vocut, its version and an optional contact address. */
export function userAgent(contact?: string): string {
  return `vocut/${VERSION} (bulk cutout downloader${contact ? `; ${contact}` : ""})`;
}
