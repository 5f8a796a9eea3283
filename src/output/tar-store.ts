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

/** A put() waiting for its group. */
interface Pending {
  readonly head: Buffer;
  readonly body: Buffer;
  readonly sha256: string;
  readonly resolve: (s: Stored) => void;
  readonly reject: (err: unknown) => void;
}

/** The tar file being appended to. */
interface Open {
  readonly name: string;
  readonly index: number;
  fd: number | undefined;
  /** End of the last member written (the end-of-archive blocks follow it). */
  end: number;
  members: number;
  /** Created by this run: its folder entry is fsynced before any of its members is reported durable. */
  fresh: boolean;
}

/**
 * The tar store (issue 12): products are appended as POSIX ustar members, named as the files store
 * names their files, to `OUT/tar/{part}-NNNNNN.tar`, each file closed at `maxBytes` or TAR_MAX_MEMBERS.
 * A group of members is written at the end of the open tar file (over its end-of-archive blocks, which
 * are written again after it), then one fdatasync; only then does put() resolve with the member's
 * offset. recover() cuts every tar file of the part back to what the ledger committed, so a kill leaves
 * neither an orphan nor a half member.
 */
export class TarStore implements Store {
  readonly kind = "tar";
  readonly dir: string;
  private readonly outDir: string;
  private readonly part: string;
  private readonly maxBytes: number;
  private readonly maxMembers: number;
  private readonly now: () => number;
  private readonly groups = new GroupQueue<Pending>((g) => this.commitGroup(g));
  private current: Open | undefined;
  private broken: unknown;

  /** `part` names this process's tar files; `now` (ms) stamps the members' mtime. */
  constructor(
    outDir: string,
    options: {
      readonly part: string;
      readonly maxBytes: number;
      readonly maxMembers?: number;
      readonly now: () => number;
    },
  ) {
    if (!/^[A-Za-z0-9_-]+$/.test(options.part))
      throw new TypeError(`tar part ${JSON.stringify(options.part)}`);
    this.outDir = outDir;
    this.dir = join(outDir, TAR_DIR);
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
    let last: Open | undefined;
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
        last = { name, index, fd: undefined, end: c.end, members: c.members, fresh: false };
    }
    if (removed > 0) this.syncDir();
    this.current = last;
    return { truncated, removed };
  }

  put(finalPath: string, body: Buffer): Promise<Stored> {
    if (this.broken !== undefined) return Promise.reject(this.broken);
    const sha256 = createHash("sha256").update(body).digest("hex");
    const head = memberHeader(memberName(this.outDir, finalPath), body.length, this.now() / 1000);
    return new Promise((resolve, reject) => {
      this.groups.add({ head, body, sha256, resolve, reject }, body.length);
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

  drain(): Promise<void> {
    return this.groups.flush();
  }

  /** Close the open tar file (after drain()). */
  close(): void {
    const fd = this.current?.fd;
    if (fd !== undefined && this.current !== undefined) {
      this.current.fd = undefined;
      closeSync(fd);
    }
  }

  /** The tar file to append to: the open one unless full, else a new one (created here). */
  private async target(bytes: number): Promise<Open> {
    const cur = this.current;
    if (
      cur !== undefined &&
      !(
        cur.members > 0 &&
        (cur.members >= this.maxMembers || cur.end + bytes + END_OF_ARCHIVE.length > this.maxBytes)
      )
    ) {
      if (cur.fd === undefined) cur.fd = await openP(join(this.dir, cur.name), "r+");
      return cur;
    }
    const index = cur === undefined ? 0 : cur.index + 1;
    const name = tarFileName(this.part, index);
    const fd = await openP(join(this.dir, name), "wx", 0o644);
    const next: Open = { name, index, fd, end: 0, members: 0, fresh: true };
    this.current = next;
    return next;
  }

  /** Append the group, sync every tar file it touched (and the folder for new ones), then resolve. */
  private async commitGroup(group: readonly Pending[]): Promise<void> {
    try {
      const places: Stored[] = [];
      let file = await this.target(0);
      let parts: Buffer[] = [];
      let start = file.end;
      const touched: Open[] = [file];
      for (const p of group) {
        const size = p.head.length + padded(p.body.length);
        const next = await this.target(size);
        if (next !== file) {
          await this.append(file, parts, start);
          await this.finish(file);
          file = next;
          touched.push(file);
          parts = [];
          start = file.end;
        }
        places.push({
          bytes: p.body.length,
          sha256: p.sha256,
          tar: { shard: file.name, offset: file.end + p.head.length },
        });
        parts.push(p.head, p.body);
        const pad = padded(p.body.length) - p.body.length;
        if (pad > 0) parts.push(Buffer.alloc(pad));
        file.end += size;
        file.members++;
      }
      await this.append(file, parts, start);
      await fdatasyncP(file.fd as number);
      if (touched.some((t) => t.fresh)) {
        this.syncDir();
        for (const t of touched) t.fresh = false;
      }
      for (let i = 0; i < group.length; i++) group[i]?.resolve(places[i] as Stored);
    } catch (err) {
      // The tar file's end is no longer known: nothing more is appended in this run (the next cuts it back).
      this.broken ??= err;
      for (const p of group) p.reject(err);
    }
  }

  /** Write `parts` then the end-of-archive blocks at `start` of `file`. */
  private async append(file: Open, parts: readonly Buffer[], start: number): Promise<void> {
    const buf = Buffer.concat([...parts, END_OF_ARCHIVE]);
    const fd = file.fd as number;
    let off = 0;
    while (off < buf.length) off += (await writeP(fd, buf, off, buf.length - off, start + off)).bytesWritten;
  }

  /** A full tar file: synced and closed. */
  private async finish(file: Open): Promise<void> {
    const fd = file.fd as number;
    await fdatasyncP(fd);
    file.fd = undefined;
    await closeP(fd);
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
