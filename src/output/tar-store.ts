import { createHash } from "node:crypto";
import {
  close,
  closeSync,
  fdatasync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  open,
  openSync,
  read,
  readdirSync,
  rmSync,
  write,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { GroupQueue } from "./group-queue.js";
import { memberName, type Store, type Stored } from "./store.js";
import { END_OF_ARCHIVE, memberHeader, padded } from "./ustar.js";
import type { TempLeftover } from "./write-atomic.js";

const openP = promisify(open);
const writeP = promisify(write);
const fdatasyncP = promisify(fdatasync);
const closeP = promisify(close);
const readP = promisify(read);
/** Piece size of the copy of a streamed product into its member. */
const COPY_CHUNK = 8 * 2 ** 20;
/**
 * Members next to each other in a tar file are written together, one positional write per this many
 * bytes (or per group commit) instead of one per member: 5,000 small members cost 5,000 thread-pool
 * round trips, each waking a pool thread that then competes with the event loop for the cores.
 */
export const TAR_BATCH_BYTES = 2 ** 20;

/** Member bytes waiting to be written in one go at `start` of `file` (contiguous). */
interface Batch {
  readonly file: TarFile;
  readonly start: number;
  readonly parts: Buffer[];
  bytes: number;
  readonly done: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** Folder of the tar files inside the output folder. */
export const TAR_DIR = "tar";
/** A tar file is closed at this many members (or at its byte limit). */
export const TAR_MAX_MEMBERS = 100_000;

/** What the ledger holds of one tar file: the end of its last committed member, and its member count. */
export interface TarCommitted {
  readonly end: number;
  readonly members: number;
}

/** Name of tar file `index` of job part `part` (`job`, or a SLURM shard's label). */
export function tarFileName(part: string, index: number): string {
  return `${part}-${String(index).padStart(6, "0")}.tar`;
}

/** A put() waiting for its group: its member is being (or has been) written at `place`. */
interface Pending {
  readonly file: TarFile;
  readonly written: Promise<void>;
  readonly stored: Stored;
  readonly resolve: (s: Stored) => void;
  readonly reject: (err: unknown) => void;
}

/** A tar file this run appends to. */
interface TarFile {
  readonly name: string;
  readonly index: number;
  /** Opened once, at its first member. */
  fd: Promise<number> | undefined;
  /** End of the last member placed (the end-of-archive blocks go there when the file is left). */
  end: number;
  members: number;
  /** Created by this run: its folder entry is fsynced before any of its members is reported durable. */
  fresh: boolean;
  /** Members placed and not yet committed; a full file is closed once none is left. */
  unsynced: number;
  /** Full: no member will be placed in it any more. */
  full: boolean;
  /** The write of a full file's end-of-archive blocks. */
  ending?: Promise<void>;
}

/**
 * The tar store (issue 12): products are appended as POSIX ustar members, named as the files store
 * names their files, to `OUT/tar/{part}-NNNNNN.tar`, each file closed at `maxBytes` or TAR_MAX_MEMBERS.
 * put() places the member at the end of the open tar file and writes it at once (page cache, through
 * the thread pool, so writes overlap the work that makes products); a group of members is then made
 * durable by one fdatasync of each tar file it touched, and only then does put() resolve with the
 * member's offset. A file's end-of-archive blocks are written when it is full and at drain(). recover()
 * cuts every tar file of the part back to what the ledger committed, so a kill leaves neither an orphan
 * nor a half member.
 */
export class TarStore implements Store {
  readonly kind = "tar";
  readonly dir: string;
  /** Where streamed products are downloaded before their member is written (the files store's temp folder). */
  readonly tempDir: string;
  private readonly outDir: string;
  private readonly part: string;
  private readonly maxBytes: number;
  private readonly maxMembers: number;
  private readonly now: () => number;
  private readonly groups = new GroupQueue<Pending>((g) => this.commitGroup(g));
  private current: TarFile | undefined;
  /** Files still open: the current one, and full ones with members not yet committed. */
  private readonly open = new Set<TarFile>();
  private broken: unknown;
  /** Members placed and not yet written (see TAR_BATCH_BYTES). */
  private batch: Batch | undefined;

  /** `part` names this process's tar files; `now` (ms) stamps the members' mtime. */
  constructor(
    outDir: string,
    options: {
      readonly part: string;
      readonly maxBytes: number;
      readonly maxMembers?: number;
      readonly now: () => number;
      readonly tempDir?: string;
    },
  ) {
    if (!/^[A-Za-z0-9_-]+$/.test(options.part))
      throw new TypeError(`tar part ${JSON.stringify(options.part)}`);
    this.outDir = outDir;
    this.dir = join(outDir, TAR_DIR);
    this.tempDir = options.tempDir ?? join(outDir, ".vocut-tmp");
    this.part = options.part;
    this.maxBytes = options.maxBytes;
    this.maxMembers = options.maxMembers ?? TAR_MAX_MEMBERS;
    this.now = options.now;
  }

  /**
   * Cut each of this part's tar files back to the end of its last member in `committed` (the ledger's
   * view) and end it with the end-of-archive blocks; remove those with no committed member. Call once,
   * holding the ledger's lock, before any put(). Returns how many files were cut and removed.
   */
  recover(committed: ReadonlyMap<string, TarCommitted>): { truncated: number; removed: number } {
    mkdirSync(this.dir, { recursive: true });
    const mine = new RegExp(`^${this.part}-(\\d{6,})\\.tar$`);
    let truncated = 0;
    let removed = 0;
    let last: TarFile | undefined;
    for (const name of readdirSync(this.dir).sort()) {
      const m = mine.exec(name);
      if (m === null) continue;
      const c = committed.get(name);
      const path = join(this.dir, name);
      if (c === undefined || c.members === 0) {
        rmSync(path, { force: true });
        removed++;
        continue;
      }
      const fd = openSync(path, "r+");
      try {
        ftruncateSync(fd, c.end);
        writeSync(fd, END_OF_ARCHIVE, 0, END_OF_ARCHIVE.length, c.end);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      truncated++;
      const index = Number(m[1]);
      if (last === undefined || index > last.index)
        last = {
          name,
          index,
          fd: undefined,
          end: c.end,
          members: c.members,
          fresh: false,
          unsynced: 0,
          full: false,
        };
    }
    if (removed > 0) this.syncDir();
    this.current = last;
    return { truncated, removed };
  }

  put(finalPath: string, body: Buffer): Promise<Stored> {
    if (this.broken !== undefined) return Promise.reject(this.broken);
    const sha256 = createHash("sha256").update(body).digest("hex");
    const head = memberHeader(memberName(this.outDir, finalPath), body.length, this.now() / 1000);
    const size = head.length + padded(body.length);
    const file = this.fileFor(size);
    const start = file.end;
    file.end += size;
    file.members++;
    file.unsynced++;
    const pad = padded(body.length) - body.length;
    const written = this.append(file, pad > 0 ? [head, body, Buffer.alloc(pad)] : [head, body], start);
    // Settled by the group commit; a failed write is seen there too.
    written.catch(() => {});
    const stored: Stored = {
      bytes: body.length,
      sha256,
      tar: { shard: file.name, offset: start + head.length },
    };
    return new Promise((resolve, reject) => {
      this.groups.add({ file, written, stored, resolve, reject }, body.length);
    });
  }

  /**
   * A streamed product: its member is copied from `tmp` in 8 MiB pieces (never whole in memory), then
   * committed with its group like put(); `tmp` is removed once the member is durable.
   */
  putFile(
    finalPath: string,
    tmp: string,
    stored0: { readonly bytes: number; readonly sha256: string },
  ): Promise<Stored> {
    if (this.broken !== undefined) return Promise.reject(this.broken);
    const bytes = stored0.bytes;
    const head = memberHeader(memberName(this.outDir, finalPath), bytes, this.now() / 1000);
    const size = head.length + padded(bytes);
    const file = this.fileFor(size);
    const start = file.end;
    file.end += size;
    file.members++;
    file.unsynced++;
    const written = (async () => {
      await this.writeAt(file, [head], start);
      const src = await openP(tmp, "r");
      try {
        const buf = Buffer.allocUnsafe(Math.min(COPY_CHUNK, Math.max(1, bytes)));
        for (let off = 0; off < bytes; ) {
          const n = (await readP(src, buf, 0, Math.min(buf.length, bytes - off), off)).bytesRead;
          if (n === 0) throw new Error(`${tmp} is shorter than its ${bytes} bytes`);
          await this.writeAt(file, [buf.subarray(0, n)], start + head.length + off);
          off += n;
        }
      } finally {
        await closeP(src);
      }
      const pad = padded(bytes) - bytes;
      if (pad > 0) await this.writeAt(file, [Buffer.alloc(pad)], start + head.length + bytes);
    })();
    written.catch(() => {});
    const stored: Stored = {
      bytes,
      sha256: stored0.sha256,
      tar: { shard: file.name, offset: start + head.length },
    };
    return new Promise((resolve, reject) => {
      this.groups.add(
        {
          file,
          written,
          stored,
          resolve: (v) => {
            rmSync(tmp, { force: true });
            resolve(v);
          },
          reject,
        },
        bytes,
      );
    });
  }

  async existing(): Promise<Buffer | undefined> {
    return undefined;
  }

  leftovers(): TempLeftover[] {
    return [];
  }

  discard(): void {}

  async adopt(): Promise<void> {}

  get waiting(): number {
    return this.groups.waiting;
  }

  get writingTemp(): number {
    return 0;
  }

  /** Commit every member put so far, then end the open tar file with its end-of-archive blocks (synced). */
  async drain(): Promise<void> {
    await this.groups.flush();
    const cur = this.current;
    if (cur === undefined || cur.fd === undefined || this.broken !== undefined) return;
    const fd = await cur.fd;
    await this.writeAt(cur, [END_OF_ARCHIVE], cur.end);
    await fdatasyncP(fd);
  }

  /** Close the tar files (after drain()). */
  close(): void {
    for (const f of this.open) {
      const fd = f.fd;
      f.fd = undefined;
      fd?.then(closeSync, () => {});
    }
    this.open.clear();
  }

  /** The tar file a member of `bytes` goes to: the open one unless full, else the next (created). */
  private fileFor(bytes: number): TarFile {
    const cur = this.current;
    const fits =
      cur !== undefined &&
      !(
        cur.members > 0 &&
        (cur.members >= this.maxMembers || cur.end + bytes + END_OF_ARCHIVE.length > this.maxBytes)
      );
    if (fits) {
      this.open.add(cur);
      return cur;
    }
    if (cur !== undefined) {
      // Full: its end-of-archive blocks go right after its last member (no member is placed there now).
      cur.full = true;
      // Its last members may still wait in the batch: written first, which also opens a fresh file.
      this.writeBatch();
      // Awaited before the file is closed: a write still in the thread pool when its descriptor is
      // closed could land in whatever file reuses the number.
      if (cur.fd !== undefined)
        cur.ending = this.writeAt(cur, [END_OF_ARCHIVE], cur.end).catch((err) => {
          this.broken ??= err;
        });
    }
    const index = cur === undefined ? 0 : cur.index + 1;
    const next: TarFile = {
      name: tarFileName(this.part, index),
      index,
      fd: undefined,
      end: 0,
      members: 0,
      fresh: true,
      unsynced: 0,
      full: false,
    };
    this.current = next;
    this.open.add(next);
    return next;
  }

  /**
   * Write `parts` at `start` of `file` with the members placed just before it: they join the open batch
   * when they follow it in the same file, else that batch is written and a new one begins. Resolves when
   * the batch holding them is written.
   */
  private append(file: TarFile, parts: readonly Buffer[], start: number): Promise<void> {
    let b = this.batch;
    if (b === undefined || b.file !== file || b.start + b.bytes !== start) {
      this.writeBatch();
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const done = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      b = { file, start, parts: [], bytes: 0, done, resolve, reject };
      this.batch = b;
    }
    for (const p of parts) {
      b.parts.push(p);
      b.bytes += p.length;
    }
    const done = b.done;
    if (b.bytes >= TAR_BATCH_BYTES) this.writeBatch();
    return done;
  }

  /** Start the write of the open batch, if any. */
  private writeBatch(): void {
    const b = this.batch;
    if (b === undefined) return;
    this.batch = undefined;
    this.writeAt(b.file, b.parts, b.start).then(b.resolve, b.reject);
  }

  /** Write `parts` at `start` of `file` (opened, or created for a fresh file, at its first write). */
  private async writeAt(file: TarFile, parts: readonly Buffer[], start: number): Promise<void> {
    file.fd ??= openP(join(this.dir, file.name), file.fresh ? "wx" : "r+", 0o644);
    const fd = await file.fd;
    const buf = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
    let off = 0;
    while (off < buf.length) off += (await writeP(fd, buf, off, buf.length - off, start + off)).bytesWritten;
  }

  /** Wait for the group's writes, fdatasync each tar file it touched (and the folder for new ones), resolve. */
  private async commitGroup(group: readonly Pending[]): Promise<void> {
    this.writeBatch();
    try {
      await Promise.all(group.map((p) => p.written));
      const files = new Set(group.map((p) => p.file));
      for (const f of files) await f.ending;
      await Promise.all([...files].map(async (f) => fdatasyncP(await (f.fd as Promise<number>))));
      if ([...files].some((f) => f.fresh)) {
        this.syncDir();
        for (const f of files) f.fresh = false;
      }
      for (const p of group) p.resolve(p.stored);
      for (const p of group) p.file.unsynced--;
      for (const f of files) {
        if (!f.full || f.unsynced > 0) continue;
        const fd = f.fd;
        f.fd = undefined;
        this.open.delete(f);
        await closeP(await (fd as Promise<number>));
      }
    } catch (err) {
      // The tar file's end is no longer known: nothing more is appended in this run (the next cuts it back).
      this.broken ??= err;
      for (const p of group) p.reject(err);
    }
  }

  private syncDir(): void {
    const fd = openSync(this.dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}
