import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { ExitCode, inputError, usageError, VocutError } from "../errors.js";
import { TAR_MAX_MEMBERS } from "../output/tar-store.js";
import { END_OF_ARCHIVE, memberHeader, padded } from "../output/ustar.js";
import { type JobReader, readProblem, withJobReader } from "./job-reader.js";

export interface WebDatasetOptions {
  /** The ledger file (not a folder). */
  readonly ledgerFile: string;
  /** The folder to write the shards to (created). */
  readonly outDir: string;
  /** A shard is closed at this many bytes (or TAR_MAX_MEMBERS members), between targets. */
  readonly shardBytes: number;
  /** The members' modification time, ms. */
  readonly mtimeMs: number;
}

export interface WebDatasetSummary {
  readonly dir: string;
  readonly shards: readonly string[];
  /** Targets written (one sample each, with its `.json`). */
  readonly samples: number;
  /** Stamps written (done tasks). */
  readonly stamps: number;
  readonly bytes: number;
}

/** Shard names: `vocut-NNNNNN.tar`. */
const SHARD = /^vocut-\d{6}\.tar$/;

/**
 * A WebDataset key: the loaders take everything up to the first `.` of a member's name as the sample's
 * key, so a safe id's dots (and `%`, never in a safe id) are written %-escaped. Reversible and unique.
 */
export function sampleKey(safeId: string): string {
  return safeId.replace(/%/g, "%25").replace(/\./g, "%2E");
}

/** A band as a member extension: `/` and other unsafe characters become `_`. */
function bandExt(band: string): string {
  return band.replace(/[^A-Za-z0-9._+\-=@,]/g, "_");
}

/**
 * `vocut export --format webdataset`: the job's stamps as WebDataset tar shards in `outDir`, in catalog
 * order, one sample per target (key: its safe id, see sampleKey()) with a member `KEY.BAND.fits` per done
 * band, byte for byte the stored product, and `KEY.json` (id, row, ra, dec, each band's state). Products
 * are read in place (a tar store's members at the ledger's offsets). Each shard is written as
 * NAME.partial-PID and renamed when whole; shards of an earlier export beyond the new count are removed.
 */
export function exportWebDataset(opts: WebDatasetOptions): WebDatasetSummary {
  const dir = resolve(opts.outDir);
  try {
    if (!statSync(dir).isDirectory()) throw usageError("EXPORT_OUT", `--out ${opts.outDir} is not a folder`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  return withJobReader(resolve(opts.ledgerFile), (reader) => writeShards(reader, dir, opts));
}

function writeShards(reader: JobReader, dir: string, opts: WebDatasetOptions): WebDatasetSummary {
  const { ledger, bands, relOf } = reader;
  const mtime = opts.mtimeMs / 1000;
  const shards: string[] = [];
  let fd: number | undefined;
  let partial = "";
  let size = 0;
  let members = 0;
  let total = 0;
  let samples = 0;
  let stamps = 0;
  const write = (buf: Buffer): void => {
    let off = 0;
    while (off < buf.length) off += writeSync(fd as number, buf, off, buf.length - off);
    size += buf.length;
  };
  const closeShard = (): void => {
    if (fd === undefined) return;
    write(END_OF_ARCHIVE);
    closeSync(fd);
    fd = undefined;
    renameSync(partial, join(dir, shards[shards.length - 1] as string));
    total += size;
  };
  let sample: Buffer[] = [];
  let sampleMembers = 0;
  let meta: { id: string; row: number; ra: number; dec: number; bands: Record<string, string> } | undefined;
  let key = "";
  const addMember = (name: string, body: Buffer): void => {
    sample.push(
      memberHeader(name, body.length, mtime),
      body,
      Buffer.alloc(padded(body.length) - body.length),
    );
    sampleMembers++;
  };
  const finishSample = (): void => {
    if (meta === undefined) return;
    addMember(`${key}.json`, Buffer.from(JSON.stringify(meta), "utf8"));
    const bytes = sample.reduce((n, b) => n + b.length, 0);
    if (fd !== undefined && (size + bytes > opts.shardBytes || members + sampleMembers > TAR_MAX_MEMBERS))
      closeShard();
    if (fd === undefined) {
      const name = `vocut-${String(shards.length).padStart(6, "0")}.tar`;
      shards.push(name);
      partial = join(dir, `${name}.partial-${process.pid}`);
      fd = openSync(partial, "w");
      size = 0;
      members = 0;
    }
    for (const b of sample) write(b);
    members += sampleMembers;
    samples++;
    sample = [];
    sampleMembers = 0;
  };
  try {
    mkdirSync(dir, { recursive: true });
    let row = Number.NaN;
    for (const t of ledger.iterateTasks()) {
      if (t.targetRow !== row) {
        finishSample();
        row = t.targetRow;
        key = sampleKey(t.safeId);
        meta = { id: t.id, row: t.targetRow, ra: t.raDeg, dec: t.decDeg, bands: {} };
      }
      const band = bands[t.bandIndex] ?? String(t.bandIndex);
      (meta as { bands: Record<string, string> }).bands[band] = t.state;
      if (t.state !== "done") continue;
      const rel = relOf(t.bandIndex, t.safeId, t.targetRow);
      let body: Buffer;
      try {
        body = reader.bytesOf(rel, t);
      } catch (err) {
        throw inputError("EXPORT_CUTOUTS", `cannot export: the cutout ${rel} ${readProblem(err)}`);
      }
      addMember(`${key}.${bandExt(band)}.fits`, body);
      stamps++;
    }
    finishSample();
    closeShard();
  } catch (err) {
    if (fd !== undefined) {
      closeSync(fd);
      unlinkSync(partial);
    }
    if (err instanceof VocutError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? "EIO";
    throw new VocutError(
      "EXPORT_WRITE",
      `cannot write ${dir} (${code}): ${(err as Error).message}`,
      code === "ENOSPC" || code === "EDQUOT" ? ExitCode.RetryLater : ExitCode.Usage,
      { cause: err },
    );
  }
  // Shards of an earlier, larger export would mix two exports in one folder.
  for (const name of readdirSync(dir))
    if (SHARD.test(name) && !shards.includes(name)) unlinkSync(join(dir, name));
  return { dir, shards, samples, stamps, bytes: total };
}
