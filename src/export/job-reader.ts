import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { inputError, usageError } from "../errors.js";
import { readImage } from "../fits/image.js";
import { Ledger } from "../ledger/ledger.js";
import type { JobSpec } from "../plan/job-spec.js";
import { FITS_EXT, insideDir, outputRelPath } from "../plan/layout.js";
import { decodeRaster, rasterKind } from "../raster/raster.js";
import { type CutoutSourceConfig, createSource } from "../sources/create-source.js";

/** One cutout read back from disk. */
export interface Cutout {
  readonly width: number;
  readonly height: number;
  /** Planes (NAXIS3; 3 for an RGB stamp). */
  readonly depth: number;
  /** FITS order (row 0 = south), plane after plane; NaN where a PNG pixel is transparent. */
  readonly data: Float64Array;
  /** An 8-bit stamp (PNG, JPEG, or BITPIX 8 FITS): values are display levels 0..255. */
  readonly levels8: boolean;
}

/** Stamp extensions a cutout job may have written, FITS first. */
const STAMP_EXTS = [FITS_EXT, ".png", ".jpg"] as const;

/**
 * A PNG/JPEG stamp as a cutout: rows flipped to FITS order; grey (PNG colour type 0 or 4) is one plane,
 * anything else three (R, G, B).
 */
function rasterCutout(buf: Buffer): Cutout {
  const img = decodeRaster(buf);
  const grey = rasterKind(buf) === "png" && (buf[25] === 0 || buf[25] === 4);
  const depth = grey ? 1 : 3;
  const { width: w, height: h } = img;
  const data = new Float64Array(w * h * depth);
  for (let r = 0; r < h; r++) {
    for (let x = 0; x < w; x++) {
      const o = (r * w + x) * 4;
      const q = (h - 1 - r) * w + x;
      for (let c = 0; c < depth; c++) {
        data[c * w * h + q] = img.data[o + 3] === 0 ? Number.NaN : (img.data[o + c] as number);
      }
    }
  }
  return { width: w, height: h, depth, data, levels8: true };
}

/** A job opened for reading its cutouts (shared by `vocut export` and `vocut preview`). */
export interface JobReader {
  readonly ledger: Ledger;
  readonly job: JobSpec & { readonly source: CutoutSourceConfig };
  readonly bands: readonly string[];
  /** The output folder the cutouts are in. */
  readonly outDir: string;
  /** Path of a task's cutout relative to outDir (a .png or .jpg stamp when that is the file there). */
  relOf(band: number, safeId: string, row: number): string;
  /**
   * Read one cutout; throws when it is missing, has another size than `bytes` (when known) or is neither
   * FITS nor a PNG/JPEG stamp.
   */
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
      relOf: (band, safeId, row) => {
        const label = bands[band] ?? String(band);
        const rels = STAMP_EXTS.map((ext) => outputRelPath(job.layout, label, safeId, row, ext));
        return rels.find((r) => existsSync(insideDir(outDir, r))) ?? (rels[0] as string);
      },
      read: (rel, bytes) => {
        const buf = readFileSync(insideDir(outDir, rel));
        if (bytes !== null && buf.length !== bytes) {
          throw new Error(`is ${buf.length} bytes, the ledger recorded ${bytes}`);
        }
        if (rasterKind(buf) !== undefined) return rasterCutout(buf);
        const img = readImage(buf);
        return {
          width: img.width,
          height: img.height,
          depth: img.depth ?? 1,
          data: img.data,
          levels8: img.bitpix === 8,
        };
      },
    };
    return ledger.transaction(() => fn(reader));
  } finally {
    ledger.close();
  }
}
