import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { inputError, usageError } from "../errors.js";
import { readImage } from "../fits/image.js";
import { Ledger } from "../ledger/ledger.js";
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
  /** Read one cutout; throws when it is missing, has another size than `bytes` (when known) or is not FITS. */
  read(rel: string, bytes: number | null): Cutout;
}

/** Why a cutout could not be read, for a message ("is missing" or the error's message). */
export function readProblem(err: unknown): string {
  return (err as NodeJS.ErrnoException).code === "ENOENT" ? "is missing" : (err as Error).message;
}

/**
 * Open the ledger read-only (no lock), check it has a job, and run `fn` inside one read transaction so
 * every count and row comes from the same snapshot even if a run is writing. Closes the ledger after.
 */
export function withJobReader<T>(ledgerFile: string, fn: (r: JobReader) => T): T {
  const file = resolve(ledgerFile);
  const ledger = Ledger.open(file, { create: false, lock: false });
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
    const reader: JobReader = {
      ledger,
      job: { ...job, source },
      bands,
      outDir,
      relOf: (band, safeId, row) => outputRelPath(job.layout, bands[band] ?? String(band), safeId, row),
      read: (rel, bytes) => {
        const buf = readFileSync(insideDir(outDir, rel));
        if (bytes !== null && buf.length !== bytes) {
          throw new Error(`is ${buf.length} bytes, the ledger recorded ${bytes}`);
        }
        const img = readImage(buf);
        return { width: img.width, height: img.height, depth: img.depth ?? 1, data: img.data };
      },
    };
    return ledger.transaction(() => fn(reader));
  } finally {
    ledger.close();
  }
}
