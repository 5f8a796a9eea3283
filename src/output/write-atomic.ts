import { createHash } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, rmSync } from "node:fs";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";

/** Folder under the output folder holding in-progress files; on the same file system, so rename is atomic. */
export const TEMP_DIR_NAME = ".vocut-tmp";

/**
 * Writes products durably: body -> temp file -> fsync -> rename into place. Directory entries are
 * made durable in batches by `syncDirs()` (one fsync per touched folder), which the ledger calls before
 * committing a batch of "done" rows: a file is never recorded as done before its rename is on disk.
 */
export class AtomicWriter {
  readonly outDir: string;
  readonly tempDir: string;
  private readonly dirtyDirs = new Set<string>();
  private readonly knownDirs = new Set<string>();
  private counter = 0;

  constructor(outDir: string) {
    this.outDir = outDir;
    this.tempDir = join(outDir, TEMP_DIR_NAME);
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
    const fh = await open(tmp, "w", 0o644);
    try {
      await fh.writeFile(body);
      await fh.sync();
      await fh.close();
    } catch (err) {
      await fh.close().catch(() => {});
      await rm(tmp, { force: true });
      throw err;
    }
    await rename(tmp, finalPath);
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
