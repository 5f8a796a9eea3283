import { createHash, type Hash } from "node:crypto";
import { close, constants as fsConstants, ftruncate, open, read, write } from "node:fs";
import { readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const openP = promisify(open);
const writeP = promisify(write);
const readP = promisify(read);
const closeP = promisify(close);
const ftruncateP = promisify(ftruncate);
/** Read-write, created if absent; not O_APPEND (Linux pwrite() would ignore the offset). */
const RW_CREATE = fsConstants.O_RDWR | fsConstants.O_CREAT;

/** Suffix of a product being downloaded in the temp folder (`<tag>.dl`), kept across runs for a resume. */
export const DOWNLOAD_SUFFIX = ".dl";
/** A product being streamed (`<tag>.dl`) or its note (`<tag>.dl.json`): AtomicWriter.prepare() keeps them. */
export const DOWNLOAD_NAME = /^([A-Za-z0-9_-]{1,100})\.dl(\.json)?$/;
/** Its note (`<tag>.dl.json`): the URL, whether the server takes ranges, and the validator for If-Range. */
const NOTE_SUFFIX = ".dl.json";
/** Chunk size when the held bytes are hashed again (a resume after a kill). */
const REHASH_CHUNK = 4 * 2 ** 20;

interface Note {
  readonly url: string;
  readonly ranges: boolean;
  readonly validator?: string;
  readonly total?: number;
}

/** Reads `length` bytes at `offset` of an open file (fewer at its end). */
async function readAtFd(fd: number, offset: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await readP(fd, buf, got, length - got, offset + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

/**
 * One archive product streamed to `<tempDir>/<tag>.dl` as it arrives, hashed (SHA-256) on the way: the
 * body sink of the HTTP client (fetch/stream-body.ts BodySink, matched by shape). A cut leaves the bytes
 * in place; the next try resumes from them when the server offered ranges. The file and its note outlive
 * a kill of vocut, so the next run resumes too (the held bytes are hashed again first). finish() hands the
 * whole file over for its check and the group sync (AtomicWriter.stageFile()).
 */
export class ProductDownload {
  readonly path: string;
  private readonly notePath: string;
  private fd: number | undefined;
  private hash: Hash = createHash("sha256");
  /** Bytes in the file and in `hash`. */
  private pos = 0;
  private hashed = 0;
  private note: Note | undefined;
  /** Called after each chunk is written (the run's watchdog: bytes arriving are progress). */
  onWrite: (() => void) | undefined;

  private constructor(
    tempDir: string,
    tag: string,
    readonly url: string,
  ) {
    this.path = join(tempDir, `${tag}${DOWNLOAD_SUFFIX}`);
    this.notePath = join(tempDir, `${tag}${NOTE_SUFFIX}`);
  }

  /** The download of `url` under `tag`: resumes what an earlier run left when its note names the same URL. */
  static async open(tempDir: string, tag: string, url: string): Promise<ProductDownload> {
    const d = new ProductDownload(tempDir, tag, url);
    try {
      const note = JSON.parse(await readFile(d.notePath, "utf8")) as Note;
      const st = await stat(d.path);
      if (note.url === url && note.ranges === true && st.isFile()) {
        d.note = note;
        d.pos = st.size;
      }
    } catch {
      // No note, or a torn one: start from byte 0.
    }
    return d;
  }

  get held(): number {
    return this.note?.ranges === true ? this.pos : 0;
  }

  get validator(): string | undefined {
    return this.note?.validator;
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.pos;
  }

  async start(info: {
    readonly from: number;
    readonly total: number | undefined;
    readonly validator: string | undefined;
    readonly ranges: boolean;
  }): Promise<void> {
    this.fd ??= await openP(this.path, RW_CREATE, 0o644);
    await ftruncateP(this.fd, info.from);
    this.pos = info.from;
    if (this.hashed !== info.from) {
      // The hash so far covers other bytes (a restart, or a resume after a kill): hash what is kept.
      this.hash = createHash("sha256");
      this.hashed = 0;
      while (this.hashed < info.from) {
        const chunk = await readAtFd(this.fd, this.hashed, Math.min(REHASH_CHUNK, info.from - this.hashed));
        if (chunk.length === 0) throw new Error(`${this.path} is shorter than ${info.from} bytes`);
        this.hash.update(chunk);
        this.hashed += chunk.length;
      }
    }
    this.note = {
      url: this.url,
      ranges: info.ranges,
      ...(info.validator === undefined ? {} : { validator: info.validator }),
      ...(info.total === undefined ? {} : { total: info.total }),
    };
    await writeFile(this.notePath, JSON.stringify(this.note));
  }

  async write(chunk: Buffer): Promise<void> {
    const fd = this.fd;
    if (fd === undefined) throw new Error("internal: write() before start()");
    let off = 0;
    while (off < chunk.length)
      off += (await writeP(fd, chunk, off, chunk.length - off, this.pos + off)).bytesWritten;
    this.hash.update(chunk);
    this.pos += chunk.length;
    this.hashed = this.pos;
    this.onWrite?.();
  }

  async discard(): Promise<void> {
    await this.release();
    await rm(this.path, { force: true });
    await rm(this.notePath, { force: true });
    this.note = undefined;
    this.pos = 0;
    this.hashed = 0;
    this.hash = createHash("sha256");
  }

  /** Read back part of what is held (for the product check). */
  async readAt(offset: number, length: number): Promise<Buffer> {
    this.fd ??= await openP(this.path, RW_CREATE, 0o644);
    return readAtFd(this.fd, offset, Math.max(0, Math.min(length, this.pos - offset)));
  }

  /** The whole product is here: its file, length and SHA-256. The note goes; the file stays until staged. */
  async finish(): Promise<{ tmp: string; bytes: number; sha256: string }> {
    await this.release();
    await rm(this.notePath, { force: true });
    return { tmp: this.path, bytes: this.pos, sha256: this.hash.digest("hex") };
  }

  /** Close the file; what is held stays for a resume (when the server offered ranges). */
  async release(): Promise<void> {
    const fd = this.fd;
    this.fd = undefined;
    if (fd !== undefined) await closeP(fd);
  }
}

/**
 * A file on disk read as a stored body: its size, a reader, and its SHA-256 by streaming (a file a killed
 * run left, checked for adoption without reading it whole into memory).
 */
export async function withStoredFile<T>(
  path: string,
  use: (f: {
    bytes: number;
    readAt: (offset: number, length: number) => Promise<Buffer>;
    sha256: () => Promise<string>;
  }) => Promise<T>,
): Promise<T> {
  const fd = await openP(path, "r");
  try {
    const { size } = await stat(path);
    return await use({
      bytes: size,
      readAt: (offset, length) => readAtFd(fd, offset, Math.max(0, Math.min(length, size - offset))),
      sha256: async () => {
        const h = createHash("sha256");
        for (let off = 0; off < size; off += REHASH_CHUNK)
          h.update(await readAtFd(fd, off, Math.min(REHASH_CHUNK, size - off)));
        return h.digest("hex");
      },
    });
  } finally {
    await closeP(fd);
  }
}

/** Products a killed run was streaming into `tempDir` (`<tag>.dl`): tag and path, to resume or remove. */
export async function leftoverDownloads(tempDir: string): Promise<Array<{ tag: string; tmp: string }>> {
  let names: string[];
  try {
    names = await readdir(tempDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const out: Array<{ tag: string; tmp: string }> = [];
  for (const name of names) {
    const m = DOWNLOAD_NAME.exec(name);
    if (m !== null && m[2] === undefined) out.push({ tag: m[1] as string, tmp: join(tempDir, name) });
  }
  return out;
}

/** Remove a download and its note. */
export async function removeDownload(tmp: string): Promise<void> {
  await rm(tmp, { force: true });
  await rm(`${tmp}.json`, { force: true });
}
