import { closeSync, openSync, readFileSync, readSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { inputError, usageError } from "../errors.js";
import { readImage } from "../fits/image.js";
import { Ledger, type TaskReportRow } from "../ledger/ledger.js";
import { TAR_DIR } from "../output/tar-store.js";
import type { JobSpec } from "../plan/job-spec.js";
import { insideDir, outputRelPath } from "../plan/layout.js";
import { type CutoutSourceConfig, createSource } from "../sources/create-source.js";

/** One cutout read back from disk. */
export interface Cutout {
  readonly width: number;
  readonly height: number;
  readonly depth: number;
  readonly data: Float64Array;
}

/** A job opened for reading its cutouts (shared by `vocut export` and `vocut preview`). */
export interface JobReader {
  readonly ledger: Ledger;
  readonly job: JobSpec & { readonly source: CutoutSourceConfig };
  readonly bands: readonly string[];
  /** The output folder the cutouts are in. */
  readonly outDir: string;
  /** Path of a task's cutout relative to outDir. */
  relOf(band: number, safeId: string, row: number): string;
  /**
   * The bytes of a done task's product: the file at `rel` (files store), or the member at the ledger's
   * offset in its tar file, read in place (tar store). Throws when it is missing or has another size
   * than the ledger recorded.
   */
  bytesOf(rel: string, t: StoredRow): Buffer;
  /** Read one cutout (bytesOf, decoded); throws also when it is not FITS. */
  read(rel: string, t: StoredRow): Cutout;
}

/** What the readers need of a task to find its product. */
export type StoredRow = Pick<TaskReportRow, "bytes" | "tarShard" | "tarOffset">;

/** A tar file name as the tar store writes them: nothing a hostile ledger could turn into a path. */
const TAR_NAME = /^[A-Za-z0-9_-]{1,100}-\d{6,}\.tar$/;

/** Reads members of tar files in place, keeping each file open. */
class TarReader {
  private readonly fds = new Map<string, number>();

  constructor(private readonly dir: string) {}

  read(shard: string, offset: number, bytes: number): Buffer {
    if (!TAR_NAME.test(shard))
      throw new Error(`has tar file name ${JSON.stringify(shard)} in the ledger, not one vocut writes`);
    let fd = this.fds.get(shard);
    if (fd === undefined) {
      fd = openSync(join(this.dir, shard), "r");
      this.fds.set(shard, fd);
    }
    const buf = Buffer.allocUnsafe(bytes);
    let got = 0;
    while (got < bytes) {
      const n = readSync(fd, buf, got, bytes - got, offset + got);
      if (n === 0)
        throw new Error(`is cut short in ${TAR_DIR}/${shard} (${got} of ${bytes} bytes at offset ${offset})`);
      got += n;
    }
    return buf;
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

/** Why a cutout could not be read, for a message ("is missing" or the error's message). */
export function readProblem(err: unknown): string {
  return (err as NodeJS.ErrnoException).code === "ENOENT" ? "is missing" : (err as Error).message;
}

/**
 * Open the ledger read-only (no lock), check it has a job, and run `fn` inside one read transaction so
 * every count and row comes from the same snapshot even if a run is writing: a tar member is read only
 * at an offset the ledger committed, so a run appending meanwhile is no trouble. Closes all after.
 */
export function withJobReader<T>(ledgerFile: string, fn: (r: JobReader) => T): T {
  const file = resolve(ledgerFile);
  const ledger = Ledger.open(file, { create: false, lock: false });
  let tars: TarReader | undefined;
  try {
    const job = ledger.job<JobSpec>();
    if (job === undefined) {
      throw inputError("LEDGER_EMPTY", `ledger ${file} has no job: plan one with \`vocut run\``);
    }
    const source = job.source;
    if (source.kind === "products") {
      throw usageError(
        "NOT_CUTOUTS",
        `ledger ${file} holds an archive product job (vocut obscore): its products are files in the output folder, not stamps to stack`,
      );
    }
    const bands = createSource(source).bands;
    const outDir = resolve(ledger.getMeta<string>("out") ?? dirname(file));
    tars = new TarReader(join(outDir, TAR_DIR));
    const inTar = tars;
    const bytesOf = (rel: string, t: StoredRow): Buffer => {
      const buf =
        t.tarShard !== null && t.tarOffset !== null && t.bytes !== null
          ? inTar.read(t.tarShard, t.tarOffset, t.bytes)
          : readFileSync(insideDir(outDir, rel));
      if (t.bytes !== null && buf.length !== t.bytes) {
        throw new Error(`is ${buf.length} bytes, the ledger recorded ${t.bytes}`);
      }
      return buf;
    };
    const reader: JobReader = {
      ledger,
      job: { ...job, source },
      bands,
      outDir,
      relOf: (band, safeId, row) => outputRelPath(job.layout, bands[band] ?? String(band), safeId, row),
      bytesOf,
      read: (rel, t) => {
        const img = readImage(bytesOf(rel, t));
        return { width: img.width, height: img.height, depth: img.depth ?? 1, data: img.data };
      },
    };
    return ledger.transaction(() => fn(reader));
  } finally {
    tars?.close();
    ledger.close();
  }
}
