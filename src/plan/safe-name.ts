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

/** The `~` and 10 hex digits of an id's SHA-256 that make a changed or colliding name unique. */
export function idHashSuffix(id: string): string {
  return `~${createHash("sha256").update(id, "utf8").digest("hex").slice(0, 10)}`;
}

// Extensions a product name may already end with; the layout's {ext} adds the product's own one back.
const NAME_EXT =
  /\.(fits|fit|fts)(\.(gz|fz))?$|\.(xml|vot|gz|tar|zip|pdf|png|jpe?g|gif|txt|csv|tsv|json|html|h5|dat)$/i;

/**
 * The name a person looks for, from an archive id or URL (issue 13): the last non-empty segment after
 * `/`, `?`, `#` or `=` ("ivo://org/~?hocut/data/F2_SYN_R.fits" -> "F2_SYN_R"), its known file extension
 * dropped, made safe like safeId() but WITHOUT the hash: the caller adds idHashSuffix() only where two
 * products would share a name. Returns undefined when nothing usable is left (then use another column).
 */
export function readableName(idOrUrl: string): string | undefined {
  const segments = idOrUrl
    .normalize("NFC")
    .split(/[/?#=]/)
    .map((s) => s.trim())
    .filter((s) => s !== "" && s !== "." && s !== "..");
  const last = segments.at(-1);
  if (last === undefined) return undefined;
  let s = last
    .replace(NAME_EXT, "")
    .replace(UNSAFE, "_")
    .replace(/^\.+/, (d) => "_".repeat(d.length));
  // Room for the hash suffix (11 bytes) within the same limit as safeId.
  while (Buffer.byteLength(s) > MAX_SAFE_ID_BYTES - 11) s = s.slice(0, -1);
  return /[A-Za-z0-9]/.test(s) ? s : undefined;
}
