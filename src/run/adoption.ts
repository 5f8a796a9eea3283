import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { TaskRow } from "../ledger/ledger.js";
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
  const body = await run.store.existing(path);
  if (body === undefined || !run.productOk(body, ext)) return false;
  const sha256 = createHash("sha256").update(body).digest("hex");
  run.record(t, band, "adopted", 0, { kind: "done", bytes: body.length, sha256 }, { path });
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
    const ext = (isProducer(source) ? [FITS_EXT] : PRODUCT_EXTS).find(
      (e) => run.tagFor(t.seq, run.pathFor(t, band, e)) === l.tag,
    );
    const body = ext === undefined ? undefined : await readFile(l.tmp).catch(() => undefined);
    if (
      ext === undefined ||
      body === undefined ||
      createHash("sha256").update(body).digest("hex") !== l.sha256 ||
      !run.productOk(body, ext)
    ) {
      store.discard(l.tmp);
      continue;
    }
    found.push({
      tmp: l.tmp,
      finalPath: run.pathFor(t, band, ext),
      t,
      band,
      bytes: body.length,
      sha256: l.sha256,
    });
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
