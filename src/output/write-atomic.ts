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
  renameSync,
  rmSync,
  write,
  writeSync,
} from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { GROUP_BYTES, GROUP_FILES, GROUP_MS, GroupQueue } from "./group-queue.js";
import { GroupSync } from "./group-sync.js";
import { DOWNLOAD_NAME } from "./product-download.js";

export { GROUP_BYTES, GROUP_FILES, GROUP_MS };

// Callback fs wrapped once: cheaper than fs/promises FileHandles (measured ~30 us less CPU per file).
const openP = promisify(open);
const writeP = promisify(write);
const fsyncP = promisify(fsync);
const closeP = promisify(close);
const renameP = promisify(rename);

/** A grouped write waiting for its group's sync. */
interface Staged {
  readonly tmp: string;
  readonly finalPath: string;
  readonly dir: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly resolve: (r: { bytes: number; sha256: string }) => void;
  readonly reject: (err: unknown) => void;
}

/** Groups smaller than this are made durable by an fsync per file rather than one syncfs. */
export const SYNCFS_MIN_FILES = 16;

async function fsyncPath(path: string, flags = "r+"): Promise<void> {
  const fd = await openP(path, flags);
  try {
    await fsyncP(fd);
  } finally {
    await closeP(fd);
  }
}

/** fsync each folder (their renames durable), all at once in the thread pool. */
async function syncFolders(dirs: ReadonlySet<string>): Promise<void> {
  await Promise.all([...dirs].map((d) => fsyncPath(d, "r")));
}

/**
 * Largest body writeGrouped() writes and closes on the event loop when `localDisk` is on: a few page
 * cache copies (~10 us each) rather than two more trips through libuv's thread pool (measured on a busy
 * 2-core ext4: ~100 us of the event loop's time per trip, waking and waiting for pool threads).
 */
export const INLINE_WRITE_MAX = 64 * 1024;

/** O_DSYNC where the platform has it (Linux, macOS; not Windows), else undefined. */
const O_DSYNC: number | undefined = fsConstants.O_DSYNC;

/** Folder under the output folder holding in-progress files; on the same file system, so rename is atomic. */
export const TEMP_DIR_NAME = ".vocut-tmp";

/** What a tag given to writeGrouped() may hold: it becomes part of a file name. */
export const TEMP_TAG = /^[A-Za-z0-9_-]{1,100}$/;

/** A tagged temp file left by an earlier run: whose it is and the SHA-256 its name claims. */
export interface TempLeftover {
  readonly tmp: string;
  readonly tag: string;
  readonly sha256: string;
}

/** Tag and claimed SHA-256 of a tagged temp file name (`<tag>-<64 hex>.part`), else undefined. */
function parseTempName(name: string): { tag: string; sha256: string } | undefined {
  const m = /^([A-Za-z0-9_-]{1,100})-([0-9a-f]{64})\.part$/.exec(name);
  return m === null ? undefined : { tag: m[1] as string, sha256: m[2] as string };
}

/**
 * Writes products durably: body -> temp file (O_DSYNC, or fsync) -> rename into place. write() leaves the
 * folder entries to `syncDirs()` (one fsync per touched folder); writeGrouped() and adopt() fsync the
 * folders of their files before they resolve, so a file reported written has its rename on disk.
 */
export class AtomicWriter {
  readonly outDir: string;
  readonly tempDir: string;
  /** True when temp files are opened O_DSYNC, so each write returns durable and no fsync call follows. */
  readonly dsync: boolean;
  private readonly openFlags: number;
  private readonly plainFlags = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC;
  private readonly dirtyDirs = new Set<string>();
  private readonly knownDirs = new Set<string>();
  private counter = 0;
  private readonly groupSync: GroupSync;
  private readonly makeDurable: (tmps: readonly string[]) => Promise<void>;
  private readonly groups = new GroupQueue<Staged>((group) => this.commitGroup(group));
  /** Temp files being written by writeGrouped(), not yet in a group. */
  private readonly writing = new Set<Promise<unknown>>();
  private readonly localDisk: boolean;

  /**
   * `options.tempName`: the temp folder's name inside outDir (default TEMP_DIR_NAME; one per shard).
   * `options.dsync` (default: where the platform has O_DSYNC) opens temp files O_DSYNC instead of
   * calling fsync after writing: the same guarantee as fdatasync (data and size on disk, which is all a
   * reader needs) in one trip through libuv's thread pool fewer per file. `dsync: true` where O_DSYNC
   * does not exist throws a TypeError. `options.groupSync`: how writeGrouped() syncs a group (tests).
   * `options.makeDurable` replaces the whole durability step of a group (tests give it a duration they
   * control; it rejects to fail the group). `options.localDisk` (default false): write() to the page cache,
   * close() and rename() do no I/O (10-30 us), so bodies up to INLINE_WRITE_MAX are written and closed,
   * and a group renamed, on the event loop. Elsewhere each is a round trip to a server (NFS close()
   * writes back; a Lustre or sshfs rename is a ~1 ms request): the thread pool does them, renames at once.
   */
  constructor(
    outDir: string,
    options: {
      readonly dsync?: boolean;
      readonly tempName?: string;
      readonly groupSync?: GroupSync;
      readonly makeDurable?: (tmps: readonly string[]) => Promise<void>;
      readonly localDisk?: boolean;
    } = {},
  ) {
    if (options.dsync === true && O_DSYNC === undefined)
      throw new TypeError("options.dsync: O_DSYNC is not available on this platform");
    this.outDir = outDir;
    this.groupSync = options.groupSync ?? new GroupSync();
    this.makeDurable = options.makeDurable ?? ((tmps) => this.syncFiles(tmps));
    this.tempDir = join(outDir, options.tempName ?? TEMP_DIR_NAME);
    this.dsync = options.dsync ?? O_DSYNC !== undefined;
    this.localDisk = options.localDisk ?? false;
    const { O_WRONLY, O_CREAT, O_TRUNC } = fsConstants;
    this.openFlags = O_WRONLY | O_CREAT | O_TRUNC | (this.dsync ? (O_DSYNC ?? 0) : 0);
  }

  /**
   * Create the temp folder and remove what a killed run left in it, except tagged files (see
   * writeGrouped()): those may hold a whole answer, for the caller to check and adopt() or discard().
   * Returns the number of files removed. Call only while holding the lock.
   */
  prepare(): number {
    let removed = 0;
    try {
      for (const name of readdirSync(this.tempDir)) {
        if (parseTempName(name) !== undefined || DOWNLOAD_NAME.test(name)) continue;
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
   * Tagged temp files in the temp folder: each with the tag and the SHA-256 its name claims for its body
   * (unchecked: a kill or power cut may have left it short or garbled). Call before any write of this run.
   */
  leftovers(): TempLeftover[] {
    let names: string[];
    try {
      names = readdirSync(this.tempDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    const out: TempLeftover[] = [];
    for (const name of names) {
      const p = parseTempName(name);
      if (p !== undefined) out.push({ tmp: join(this.tempDir, name), ...p });
    }
    return out;
  }

  /** Remove a temp file that will not be adopted. */
  discard(tmp: string): void {
    rmSync(tmp, { force: true });
  }

  /**
   * Put checked leftovers in place as a group write would: make their data durable (one syncfs or an
   * fsync each), rename each to its final path and fsync the folders. Throws on I/O errors; a file not
   * yet renamed stays in the temp folder for the next run.
   */
  async adopt(files: ReadonlyArray<{ readonly tmp: string; readonly finalPath: string }>): Promise<void> {
    if (files.length === 0) return;
    await this.makeDurable(files.map((f) => f.tmp));
    for (const f of files) {
      const dir = dirname(f.finalPath);
      if (!this.knownDirs.has(dir)) {
        await mkdir(dir, { recursive: true });
        this.knownDirs.add(dir);
      }
      await renameP(f.tmp, f.finalPath);
    }
    await syncFolders(new Set(files.map((f) => dirname(f.finalPath))));
  }

  /**
   * Write `body` to `finalPath` atomically; returns byte count and SHA-256 (hex). Asynchronous so that the
   * fsyncs of concurrent tasks overlap in libuv's thread pool instead of serialising. Throws on I/O errors
   * (ENOSPC included) after removing its temp file.
   */
  async write(finalPath: string, body: Buffer): Promise<{ bytes: number; sha256: string }> {
    const { sha256, dir, tmp } = await this.begin(finalPath, body);
    await this.writeTemp(tmp, body, this.openFlags, !this.dsync);
    try {
      await renameP(tmp, finalPath);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    this.dirtyDirs.add(dir);
    return { bytes: body.length, sha256 };
  }

  /**
   * Like write(), but durable in groups: the body goes to a temp file at once (page cache only, no
   * sync) and the promise resolves when the file is at `finalPath` and durable. A group is made durable
   * by one syncfs of the output's file system (GroupSync; per-file fsync where that is unavailable),
   * then renamed into place, when it holds GROUP_FILES files or GROUP_BYTES bytes, or GROUP_MS after its
   * first file, or on drain(). The order: durable data -> rename -> folder fsync -> resolve (then the
   * caller's ledger commit), so a file at its final path is always whole; a kill before the group
   * sync loses only that group's temp files, which sit whole in the page cache (a kill of the process
   * loses nothing there, only a power cut does). With a `tag` (TEMP_TAG: letters, digits, `_`, `-`;
   * the caller's name for the task) the temp file is `<tag>-<sha256 of the body>.part`, so a later run
   * can tell whose answer it holds and that it is whole (leftovers(), adopt()); untagged temp files are
   * removed by prepare(), and their tasks asked again.
   * Once the temp file is written no body is held: a waiting file costs only its paths and sums.
   */
  writeGrouped(finalPath: string, body: Buffer, tag?: string): Promise<{ bytes: number; sha256: string }> {
    // Counted in `writing` from the call on, not from its first await: drain() called right after the
    // last put() (the task loop does that once its queue is empty) must see this body, or it returns at
    // once and the file waits GROUP_MS for its group's timer, a 200 ms tail on every run.
    const writing = this.writeTempFor(finalPath, body, tag);
    this.writing.add(writing);
    return writing.then(
      ({ tmp, dir, sha256 }) => {
        this.writing.delete(writing);
        return this.stage(tmp, finalPath, dir, { bytes: body.length, sha256 });
      },
      (err: unknown) => {
        this.writing.delete(writing);
        throw err;
      },
    );
  }

  /** The body's temp file written (not synced): its path, final folder and SHA-256. */
  private async writeTempFor(
    finalPath: string,
    body: Buffer,
    tag: string | undefined,
  ): Promise<{ sha256: string; dir: string; tmp: string }> {
    const begun = await this.begin(finalPath, body, tag);
    // Through the thread pool: creating a file took 0.2-0.4 ms here on a busy ext4 (milliseconds on
    // cluster file systems), time the event loop would otherwise stand still.
    if (this.localDisk && body.length <= INLINE_WRITE_MAX) await this.writeTempInline(begun.tmp, body);
    else await this.writeTemp(begun.tmp, body, this.plainFlags, false);
    return begun;
  }

  /**
   * writeGrouped() for a body already in a file of the temp folder (a streamed product, checked and
   * hashed): renamed to `<tag>-<sha256>.part` (adoptable after a kill), then synced with its group.
   */
  async stageFile(
    tmp: string,
    finalPath: string,
    written: { readonly bytes: number; readonly sha256: string },
    tag: string,
  ): Promise<{ bytes: number; sha256: string }> {
    if (!TEMP_TAG.test(tag)) throw new TypeError(`tag ${JSON.stringify(tag)}: expected ${TEMP_TAG}`);
    const dir = dirname(finalPath);
    if (!this.knownDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.knownDirs.add(dir);
    }
    const staged = join(this.tempDir, `${tag}-${written.sha256}.part`);
    await renameP(tmp, staged);
    return this.stage(staged, finalPath, dir, written);
  }

  /** Queue a whole temp file for its group's sync and rename; resolves once it is durable and in place. */
  private stage(
    tmp: string,
    finalPath: string,
    dir: string,
    written: { readonly bytes: number; readonly sha256: string },
  ): Promise<{ bytes: number; sha256: string }> {
    return new Promise((resolve, reject) => {
      this.groups.add(
        { tmp, finalPath, dir, bytes: written.bytes, sha256: written.sha256, resolve, reject },
        written.bytes,
      );
    });
  }

  /** The body's SHA-256, its final folder (created once) and a fresh temp path (named by `tag` if given). */
  private async begin(
    finalPath: string,
    body: Buffer,
    tag?: string,
  ): Promise<{ sha256: string; dir: string; tmp: string }> {
    if (tag !== undefined && !TEMP_TAG.test(tag))
      throw new TypeError(`tag ${JSON.stringify(tag)}: expected ${TEMP_TAG}`);
    const sha256 = createHash("sha256").update(body).digest("hex");
    const dir = dirname(finalPath);
    if (!this.knownDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.knownDirs.add(dir);
    }
    const name = tag === undefined ? `${process.pid}-${++this.counter}.part` : `${tag}-${sha256}.part`;
    return { sha256, dir, tmp: join(this.tempDir, name) };
  }

  /** Body -> temp file (fsynced when `fsyncAfter`); on failure the temp file is removed and the error thrown. */
  private async writeTemp(tmp: string, body: Buffer, flags: number, fsyncAfter: boolean): Promise<void> {
    const fd = await openP(tmp, flags, 0o644);
    let closed = false;
    try {
      let off = 0;
      while (off < body.length) off += (await writeP(fd, body, off, body.length - off, off)).bytesWritten;
      if (fsyncAfter) await fsyncP(fd);
      closed = true;
      await closeP(fd);
    } catch (err) {
      if (!closed) await closeP(fd).catch(() => {});
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /** writeTemp() without sync, writing and closing on the event loop once the thread pool has opened the file. */
  private async writeTempInline(tmp: string, body: Buffer): Promise<void> {
    const fd = await openP(tmp, this.plainFlags, 0o644);
    try {
      let off = 0;
      while (off < body.length) off += writeSync(fd, body, off, body.length - off, off);
    } catch (err) {
      closeSync(fd);
      rmSync(tmp, { force: true });
      throw err;
    }
    closeSync(fd);
  }

  /** Files waiting for their group sync. */
  get waiting(): number {
    return this.groups.waiting;
  }

  /** Grouped writes whose temp file is still being written (not yet waiting for a group). */
  get writingTemp(): number {
    return this.writing.size;
  }

  /** Make every grouped write so far durable and in place; resolves when their promises have settled. */
  async drain(): Promise<void> {
    while (this.writing.size > 0 || !this.groups.idle) {
      await Promise.allSettled([...this.writing]);
      await this.groups.flush();
    }
  }

  /** Stop the sync helper (after drain()). */
  close(): void {
    this.groupSync.close();
  }

  /** Data of every file durable: one syncfs for a big group, else an fsync per file. */
  private async syncFiles(tmps: readonly string[]): Promise<void> {
    // A small group (a slow or rate-limited job) fsyncs its files: syncfs flushes every dirty page of
    // the file system, other users' too on a shared node, which pays off only for many files at once.
    if (tmps.length >= SYNCFS_MIN_FILES && (await this.groupSync.sync(this.tempDir))) return;
    // fsync each file, all at once in the thread pool.
    await Promise.all(tmps.map((t) => fsyncPath(t)));
  }

  private async commitGroup(group: readonly Staged[]): Promise<void> {
    try {
      await this.makeDurable(group.map((g) => g.tmp));
    } catch (err) {
      for (const g of group) {
        rmSync(g.tmp, { force: true });
        g.reject(err);
      }
      return;
    }
    const placed: Staged[] = [];
    const failed = (g: Staged, err: unknown): void => {
      rmSync(g.tmp, { force: true });
      g.reject(err);
    };
    if (this.localDisk) {
      for (const g of group) {
        try {
          renameSync(g.tmp, g.finalPath);
          placed.push(g);
        } catch (err) {
          failed(g, err);
        }
      }
    } else {
      // Each rename a round trip to the server: as many at once as the thread pool runs.
      await Promise.all(
        group.map((g) =>
          renameP(g.tmp, g.finalPath).then(
            () => void placed.push(g),
            (err: unknown) => failed(g, err),
          ),
        ),
      );
    }
    try {
      await syncFolders(new Set(placed.map((g) => g.dir)));
    } catch (err) {
      // In place but not known durable: not reported written (a later run adopts or replaces them).
      for (const g of placed) g.reject(err);
      return;
    }
    for (const g of placed) g.resolve({ bytes: g.bytes, sha256: g.sha256 });
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
