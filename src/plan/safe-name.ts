import { createHash } from "node:crypto";

/** Longest safe id in bytes, leaving room for a band folder, extension and temp suffix within NAME_MAX 255. */
export const MAX_SAFE_ID_BYTES = 120;

// Letters, digits and a few punctuation marks that are safe in file names on every common file system
// and in shells. Everything else (/, \, NUL, control characters, spaces, quotes, :, *, ?, <, >, |) goes.
const UNSAFE = /[^A-Za-z0-9._+\-=@,]/g;

/**
 * Map a catalog id to a file-name component that cannot escape the output folder. Ids that are already
 * safe map to themselves; any id that had to change gets `~` and 10 hex digits of its SHA-256 appended, so
 * the mapping is deterministic and two different ids never share a name unless the hashes collide (which
 * the ledger's UNIQUE(safe_id) catches and reports). `~` never appears in an unchanged id, so a changed id
 * cannot collide with a clean one.
 */
export function safeId(id: string): string {
  let s = id.normalize("NFC").replace(UNSAFE, "_");
  // Leading dots would make hidden files or "." / ".." path components.
  s = s.replace(/^\.+/, (dots) => "_".repeat(dots.length));
  let changed = s !== id;
  if (s.length === 0) {
    s = "_";
    changed = true;
  }
  if (Buffer.byteLength(s) > MAX_SAFE_ID_BYTES) {
    s = s.slice(0, MAX_SAFE_ID_BYTES - 11);
    changed = true;
  }
  if (!changed) return s;
  const hash = createHash("sha256").update(id, "utf8").digest("hex").slice(0, 10);
  return `${s}~${hash}`;
}
