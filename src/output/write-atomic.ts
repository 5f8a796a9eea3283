import { createHash } from "node:crypto";
import {
  close,
  closeSync,
  constants as fsConstants,
  fsync,
  fsyncSync,
  mkdirSync,
  open,
  openSync,
  readdirSync,
  rename,
  rmSync,
  write,
} from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";

// Callback fs wrapped once: cheaper than fs/promises FileHandles (measured ~30 us less CPU per file).
const openP = promisify(open);
const writeP = promisify(write);
const fsyncP = promisify(fsync);
const closeP = promisify(close);
const renameP = promisify(rename);

/** O_DSYNC where the platform has it (Linux, macOS; not Windows), else undefined. */
const O_DSYNC: number | undefined = fsConstants.O_DSYNC;

/** Folder under the output folder holding in-progress files; on the same file system, so rename is atomic. */
export const TEMP_DIR_NAME = ".vocut-tmp";

/**
 * Writes products durably: body -> temp file (O_DSYNC, or fsync) -> rename into place. Directory entries are
 * made durable in batches by `syncDirs()` (one fsync per touched folder), which the ledger calls before
 * committing a batch of "done" rows: a file is never recorded as done before its rename is on disk.
 */
export class AtomicWriter {
  readonly outDir: string;
  readonly tempDir: string;
  /** True when temp files are opened O_DSYNC, so each write returns durable and no fsync call follows. */
  readonly dsync: boolean;
  private readonly openFlags: number;
  private readonly dirtyDirs = new Set<string>();
  private readonly knownDirs = new Set<string>();
  private counter = 0;

  /**
   * `options.tempName`: the temp folder's name inside outDir (default TEMP_DIR_NAME; one per shard).
   * `options.dsync` (default: where the platform has O_DSYNC) opens temp files O_DSYNC instead of
   * calling fsync after writing: the same guarantee as fdatasync (data and size on disk, which is all a
   * reader needs) in one trip through libuv's thread pool fewer per file. `dsync: true` where O_DSYNC
   * does not exist throws a TypeError.
   */
  constructor(outDir: string, options: { readonly dsync?: boolean; readonly tempName?: string } = {}) {
    if (options.dsync === true && O_DSYNC === undefined)
      throw new TypeError("options.dsync: O_DSYNC is not available on this platform");
    this.outDir = outDir;
    this.tempDir = join(outDir, options.tempName ?? TEMP_DIR_NAME);
    this.dsync = options.dsync ?? O_DSYNC !== undefined;
    const { O_WRONLY, O_CREAT, O_TRUNC } = fsConstants;
    this.openFlags = O_WRONLY | O_CREAT | O_TRUNC | (this.dsync ? (O_DSYNC ?? 0) : 0);
  }

  /** Remove temp files left by a killed run and create the temp folder. Call only while holding the lock. */
  prepare(): number {
    let removed = 0;
    try {
      for (const name of readdirSync(this.tempDir)) {
        rmSync(join(this.tempDir, name), { force: true });
        removed++;
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    mkdirSync(this.tempDir, { recursive: true });
    return removed;
  }

  /**
   * Write `body` to `finalPath` atomically; returns byte count and SHA-256 (hex). Asynchronous so that the
   * fsyncs of concurrent tasks overlap in libuv's thread pool instead of serialising. Throws on I/O errors
   * (ENOSPC included) after removing its temp file.
   */
  async write(finalPath: string, body: Buffer): Promise<{ bytes: number; sha256: string }> {
    const sha256 = createHash("sha256").update(body).digest("hex");
    const dir = dirname(finalPath);
    if (!this.knownDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.knownDirs.add(dir);
    }
    const tmp = join(this.tempDir, `${process.pid}-${++this.counter}.part`);
    const fd = await openP(tmp, this.openFlags, 0o644);
    let closed = false;
    try {
      let off = 0;
      while (off < body.length) off += (await writeP(fd, body, off, body.length - off, off)).bytesWritten;
      if (!this.dsync) await fsyncP(fd);
      closed = true;
      await closeP(fd);
    } catch (err) {
      if (!closed) await closeP(fd).catch(() => {});
      await rm(tmp, { force: true });
      throw err;
    }
    try {
      await renameP(tmp, finalPath);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    this.dirtyDirs.add(dir);
    return { bytes: body.length, sha256 };
  }

  /** fsync every folder that received a rename since the last call, so the renames survive a power cut. */
  syncDirs(): void {
    for (const dir of this.dirtyDirs) {
      const fd = openSync(dir, "r");
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    this.dirtyDirs.clear();
  }
}
