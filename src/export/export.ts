import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname, resolve } from "node:path";
import { ExitCode, inputError, usageError, VocutError } from "../errors.js";
import { TASK_STATES, type TaskState } from "../ledger/ledger.js";
import { csvLine } from "./csv.js";
import { cubeHeader } from "./fits-cube.js";
import { type JobReader, readProblem, withJobReader } from "./job-reader.js";
import { npyHeader } from "./npy.js";

export type ExportFormat = "npy" | "fits";
export const EXPORT_FORMATS: readonly ExportFormat[] = ["npy", "fits"];

export interface ExportOptions {
  /** The ledger file (not a folder: resolve that with ledgerPath first). */
  readonly ledgerFile: string;
  /** The array file to write; its sidecar CSV is FILE + ".csv". */
  readonly outFile: string;
  readonly format: ExportFormat;
}

export interface ExportSummary {
  readonly file: string;
  readonly csv: string;
  readonly format: ExportFormat;
  /** N (targets), B (bands), H, W. */
  readonly shape: readonly [number, number, number, number];
  readonly bands: readonly string[];
  /** Size of the array file in bytes. */
  readonly bytes: number;
  /** Tasks by state; every state but "done" is a NaN stamp in the array. */
  readonly byState: Readonly<Record<TaskState, number>>;
}

/** Offending files named in a shape or read error. */
const MAX_PROBLEMS = 5;
/** Stamps are written in chunks of about this many bytes (at least one target). */
const CHUNK_BYTES = 1 << 20;

interface Problem {
  readonly rel: string;
  readonly why: string;
}

/** Write all of `buf` at the current position of `fd`. */
function writeAll(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

function writeError(err: unknown, path: string): VocutError {
  if (err instanceof VocutError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? "EIO";
  const full = code === "ENOSPC" || code === "EDQUOT";
  return new VocutError(
    "EXPORT_WRITE",
    `cannot write ${path} (${code}): ${full ? "the disk is full; free space and export again" : (err as Error).message}`,
    full ? ExitCode.RetryLater : ExitCode.Usage,
    { cause: err },
  );
}

/**
 * Stack every cutout of a job into an N x B x H x W float32 array (targets in catalog row order, bands in job
 * order), NaN where a cutout is not done, plus a sidecar CSV describing each target. Streams: the header is
 * written first (the shape follows from the ledger's counts), then one chunk of targets at a time, so memory
 * does not grow with the job. Writes FILE.partial-PID and FILE.csv.partial-PID and renames them at the end;
 * on any error both are removed. Cutouts of another shape than the first done one, or done cutouts that
 * cannot be read, are an input error (exit 3) naming the first few files.
 */
export function exportJob(opts: ExportOptions): ExportSummary {
  const ledgerFile = resolve(opts.ledgerFile);
  const file = resolve(opts.outFile);
  const csvFile = `${file}.csv`;
  if (existsSync(file) && statSync(file).isDirectory()) {
    throw usageError("EXPORT_OUT", `--out ${opts.outFile} is a folder; give a file name`);
  }
  // One read transaction: the counts and the rows come from the same snapshot even if a run is writing.
  return withJobReader(ledgerFile, (reader) =>
    exportSnapshot(reader, { file, csvFile, format: opts.format }),
  );
}

function exportSnapshot(
  reader: JobReader,
  out: { file: string; csvFile: string; format: ExportFormat },
): ExportSummary {
  const { ledger, job, bands, outDir, relOf, read } = reader;
  const B = bands.length;
  const counts = ledger.counts();
  if (B === 0 || counts.total % B !== 0) {
    throw inputError(
      "LEDGER_SHAPE",
      `ledger ${ledger.path} has ${counts.total} task(s), not a multiple of its ${B} band(s)`,
    );
  }
  const N = counts.total / B;

  // The stamp size: that of the first done cutout (what the server really returned), else the job's.
  let W = job.source.geometry.widthPx;
  let H = job.source.geometry.heightPx;
  let reference = "the job's stamp size";
  // Unreadable cutouts are skipped here; the main pass names them.
  let unreadable = 0;
  for (const t of ledger.iterateTasks()) {
    if (t.state !== "done") continue;
    const rel = relOf(t.bandIndex, t.safeId, t.targetRow);
    try {
      const img = read(rel, t);
      W = img.width;
      H = img.height;
      reference = `the first cutout ${rel}`;
      break;
    } catch {
      if (++unreadable >= MAX_PROBLEMS) break;
    }
  }

  const isNpy = out.format === "npy";
  const littleEndian = isNpy;
  const header = isNpy ? npyHeader([N, B, H, W]) : cubeHeader({ n: N, b: B, h: H, w: W }, bands);
  const stampValues = H * W;
  const targetBytes = B * stampValues * 4;
  const dataBytes = N * targetBytes;
  const padding = isNpy ? 0 : (2880 - (dataBytes % 2880)) % 2880;
  const nan = Buffer.alloc(4);
  if (littleEndian) nan.writeFloatLE(Number.NaN);
  else nan.writeFloatBE(Number.NaN);

  const partial = `${out.file}.partial-${process.pid}`;
  const csvPartial = `${out.csvFile}.partial-${process.pid}`;
  let fd: number | undefined;
  let csvFd: number | undefined;
  let renamed = false;
  try {
    try {
      mkdirSync(dirname(out.file), { recursive: true });
      fd = openSync(partial, "w");
      csvFd = openSync(csvPartial, "w");
      writeAll(fd, header);
    } catch (err) {
      throw writeError(err, partial);
    }
    const dataFd = fd;
    const textFd = csvFd;

    const perChunk = targetBytes === 0 ? 1 : Math.max(1, Math.floor(CHUNK_BYTES / targetBytes));
    const chunk = Buffer.alloc(Math.max(perChunk * targetBytes, 1));
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.length);
    let inChunk = 0;
    let csvText = csvLine(["index", "id", "ra", "dec", ...bands.flatMap((b) => [`${b}_state`, `${b}_file`])]);
    const flushChunk = (): void => {
      try {
        writeAll(dataFd, chunk.subarray(0, inChunk * targetBytes));
        writeAll(textFd, Buffer.from(csvText, "utf8"));
      } catch (err) {
        throw writeError(err, partial);
      }
      inChunk = 0;
      csvText = "";
    };

    const problems: Problem[] = [];
    let index = -1;
    let row = Number.NaN;
    let states: string[] = [];
    let files: string[] = [];
    let target = { id: "", raDeg: 0, decDeg: 0 };
    const finishTarget = (): void => {
      if (index < 0 || problems.length > 0) return;
      csvText += csvLine([
        String(index),
        target.id,
        String(target.raDeg),
        String(target.decDeg),
        ...states.flatMap((s, b) => [s, files[b] ?? ""]),
      ]);
      inChunk++;
      if (inChunk === perChunk || csvText.length >= CHUNK_BYTES) flushChunk();
    };

    for (const t of ledger.iterateTasks()) {
      if (t.targetRow !== row) {
        finishTarget();
        index++;
        row = t.targetRow;
        target = { id: t.id, raDeg: t.raDeg, decDeg: t.decDeg };
        states = Array.from({ length: B }, () => "missing");
        files = Array.from({ length: B }, () => "");
        if (index >= N) throw new Error(`internal: ledger ${ledger.path} has more targets than ${N}`);
        if (problems.length === 0) {
          chunk.fill(nan, inChunk * targetBytes, (inChunk + 1) * targetBytes);
        }
      }
      if (t.bandIndex < 0 || t.bandIndex >= B) {
        throw new Error(`internal: task ${t.seq} has band index ${t.bandIndex} of ${B}`);
      }
      states[t.bandIndex] = t.state;
      if (t.state !== "done") continue;
      const rel = relOf(t.bandIndex, t.safeId, t.targetRow);
      files[t.bandIndex] = rel;
      let img: ReturnType<typeof read>;
      try {
        img = read(rel, t);
      } catch (err) {
        problems.push({ rel, why: readProblem(err) });
        if (problems.length >= MAX_PROBLEMS) break;
        continue;
      }
      if (img.width !== W || img.height !== H || img.depth !== 1) {
        const size = `${img.width}x${img.height}${img.depth === 1 ? "" : `x${img.depth}`}`;
        problems.push({ rel, why: `is ${size} pixels (width x height), ${reference} is ${W}x${H}` });
        if (problems.length >= MAX_PROBLEMS) break;
        continue;
      }
      if (problems.length > 0) continue;
      let o = inChunk * targetBytes + t.bandIndex * stampValues * 4;
      const data = img.data;
      for (let i = 0; i < stampValues; i++, o += 4) view.setFloat32(o, data[i] as number, littleEndian);
    }
    if (problems.length > 0) {
      throw inputError(
        "EXPORT_CUTOUTS",
        `cannot export (nothing written); cutouts in ${outDir} that cannot be stacked` +
          `${problems.length >= MAX_PROBLEMS ? ` (the first ${MAX_PROBLEMS})` : ""}:\n` +
          problems.map((p) => `  ${p.rel} ${p.why}`).join("\n"),
      );
    }
    finishTarget();
    if (index + 1 !== N)
      throw new Error(`internal: ledger ${ledger.path} has ${index + 1} targets, not ${N}`);
    if (inChunk > 0 || csvText !== "") flushChunk();
    try {
      if (padding > 0) writeAll(dataFd, Buffer.alloc(padding));
      closeSync(dataFd);
      fd = undefined;
      closeSync(textFd);
      csvFd = undefined;
      renameSync(csvPartial, out.csvFile);
      renameSync(partial, out.file);
      renamed = true;
    } catch (err) {
      throw writeError(err, out.file);
    }
  } finally {
    if (fd !== undefined) closeSync(fd);
    if (csvFd !== undefined) closeSync(csvFd);
    if (!renamed) {
      for (const p of [partial, csvPartial]) {
        try {
          unlinkSync(p);
        } catch {
          // Not created, or already renamed.
        }
      }
    }
  }
  const byState = Object.fromEntries(TASK_STATES.map((s) => [s, counts.byState[s]])) as Record<
    TaskState,
    number
  >;
  return {
    file: out.file,
    csv: out.csvFile,
    format: out.format,
    shape: [N, B, H, W],
    bands,
    bytes: header.length + dataBytes + padding,
    byState,
  };
}
