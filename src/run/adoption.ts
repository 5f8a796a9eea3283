import type { TaskRow } from "../ledger/ledger.js";
import { leftoverDownloads, removeDownload, withStoredFile } from "../output/product-download.js";
import { PRODUCT_EXTS } from "../output/product-formats.js";
import { FITS_EXT } from "../plan/layout.js";
import { isProducer } from "../sources/source.js";
import { diskError } from "./disk-error.js";
import type { RunState } from "./run-state.js";

/**
 * A file a killed run may have renamed into place without committing "done": taken as it is (recorded
 * "adopted") instead of asking the server again, when it is a whole product. Resolves false when there
 * is none or it is not whole (then it is replaced).
 */
export async function adoptExisting(
  run: RunState,
  t: TaskRow,
  band: string,
  path: string,
  ext: string,
): Promise<boolean> {
  // Only a files store has products at their final path; read through a file handle, never whole into
  // memory when large (a 10 GB product).
  if (run.store.kind !== "files") return false;
  // Read through a file handle, never whole into memory when large (a 10 GB product).
  const whole = await withStoredFile(path, async (f) =>
    (await run.storedOk(f, ext)) ? { bytes: f.bytes, sha256: await f.sha256() } : undefined,
  ).catch(() => undefined);
  if (whole === undefined) return false;
  run.record(t, band, "adopted", 0, { kind: "done", ...whole }, { path });
  return true;
}

/**
 * Answers a killed run had written to its temp folder but not yet synced and renamed (a kill -9 while
 * they waited for their group's sync): each sits whole in the page cache under a name that says which
 * task it belongs to and the SHA-256 of its body. One whose task is still unsettled, whose body has
 * that hash and which still passes the product check is made durable, renamed into place and recorded
 * done, as if its group had synced; anything else is removed, and its task asked again. Throws the
 * run-level disk error when making them durable fails.
 */
export async function adoptLeftovers(run: RunState): Promise<void> {
  const { store, ledger, source } = run;
  const found: Array<{
    tmp: string;
    finalPath: string;
    t: TaskRow;
    band: string;
    bytes: number;
    sha256: string;
  }> = [];
  for (const l of store.leftovers()) {
    const m = /^(\d{1,15})-[0-9a-f]{16}$/.exec(l.tag);
    const t = m === null ? undefined : ledger.task(Number(m[1]));
    const band = t === undefined ? undefined : source.bands[t.bandIndex];
    if (t === undefined || band === undefined || (t.state !== "pending" && t.state !== "running")) {
      store.discard(l.tmp);
      continue;
    }
    // Every extension this job can save under (PRODUCT_EXTS holds FITS_EXT and ".dat"); the tag says which.
    const ext = (isProducer(source) ? [source.extension?.(band) ?? FITS_EXT] : PRODUCT_EXTS).find(
      (e) => run.tagFor(t.seq, run.pathFor(t, band, e)) === l.tag,
    );
    const bytes =
      ext === undefined
        ? undefined
        : await withStoredFile(l.tmp, async (f) =>
            (await f.sha256()) === l.sha256 && (await run.storedOk(f, ext)) ? f.bytes : undefined,
          ).catch(() => undefined);
    if (ext === undefined || bytes === undefined) {
      store.discard(l.tmp);
      continue;
    }
    found.push({ tmp: l.tmp, finalPath: run.pathFor(t, band, ext), t, band, bytes, sha256: l.sha256 });
  }
  // Products a killed run was streaming: kept for their task to resume, removed once it has settled.
  for (const d of await leftoverDownloads(store.tempDir)) {
    const m = /^(\d{1,15})-[0-9a-f]{16}$/.exec(d.tag);
    const t = m === null ? undefined : ledger.task(Number(m[1]));
    if (t === undefined || (t.state !== "pending" && t.state !== "running")) await removeDownload(d.tmp);
  }
  if (found.length === 0) return;
  try {
    await store.adopt(found);
  } catch (err) {
    throw diskError(err, store.dir);
  }
  for (const f of found) {
    const done = { kind: "done", bytes: f.bytes, sha256: f.sha256, httpStatus: 200 } as const;
    run.record(f.t, f.band, "adopted", 0, done, { path: f.finalPath });
  }
  // Committed before the first claim, so that no adopted task is handed out again.
  ledger.flush();
}
