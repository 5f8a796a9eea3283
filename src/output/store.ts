import { readFile } from "node:fs/promises";
import { relative, sep } from "node:path";
import type { AtomicWriter, TempLeftover } from "./write-atomic.js";

/** How a job keeps its products: one file each, or members of tar files (issue 12). */
export type StoreKind = "files" | "tar";
export const STORE_KINDS: readonly StoreKind[] = ["files", "tar"];

/** Where a product is inside a tar file: the file's name in OUT/tar and the byte offset of its data. */
export interface TarPlace {
  readonly shard: string;
  readonly offset: number;
}

/** A product made durable: its size and SHA-256, and for a tar store where its bytes are. */
export interface Stored {
  readonly bytes: number;
  readonly sha256: string;
  readonly tar?: TarPlace;
}

/**
 * Where a job's products go, owning the whole durability handshake: put() resolves only once the
 * product is durable where readers will look for it (files: data synced, renamed, folder fsynced; tar:
 * member appended and the tar file fdatasynced). The caller then records it in the ledger; the ledger
 * never calls back into the store.
 */
export interface Store {
  readonly kind: StoreKind;
  /** The temp folder (files) or tar folder (tar), for messages. */
  readonly dir: string;
  /**
   * Store `body` as the product at `finalPath` (inside the output folder; a tar member is named by the
   * path relative to it). `tag()` names the task (files: a killed run's temp file can be adopted); a
   * function, called only by a store that names temp files (a SHA-256 each: 3% of a tar job's CPU).
   */
  put(finalPath: string, body: Buffer, tag: () => string): Promise<Stored>;
  /**
   * Store a product already written whole (streamed, hashed on the way) to `tmp`, a file in `tempDir`,
   * as put() does for a body in memory; `tmp` is gone once it resolves.
   */
  putFile(
    finalPath: string,
    tmp: string,
    written: { readonly bytes: number; readonly sha256: string },
    tag: () => string,
  ): Promise<Stored>;
  /** The folder streamed downloads are written to (on the output's file system). */
  readonly tempDir: string;
  /** A product already in place at `finalPath` from a killed run (files only), else undefined. */
  existing(finalPath: string): Promise<Buffer | undefined>;
  /** Whole answers a killed run left before they were durable (files only). */
  leftovers(): TempLeftover[];
  discard(tmp: string): void;
  /** Make checked leftovers durable and put them in place. */
  adopt(files: ReadonlyArray<{ readonly tmp: string; readonly finalPath: string }>): Promise<void>;
  /** Products waiting for their group's sync, and bodies still being handed to the store. */
  readonly waiting: number;
  readonly writingTemp: number;
  /** Resolve once every put() so far has settled. */
  drain(): Promise<void>;
  close(): void;
}

/** A member name in a tar store: `finalPath` relative to the output folder, with `/` separators. */
export function memberName(outDir: string, finalPath: string): string {
  return relative(outDir, finalPath).split(sep).join("/");
}

/** The files store: one file per product, written by an AtomicWriter (temp file, group sync, rename). */
export class FileStore implements Store {
  readonly kind = "files";
  readonly writer: AtomicWriter;

  constructor(writer: AtomicWriter) {
    this.writer = writer;
  }

  get dir(): string {
    return this.writer.tempDir;
  }

  put(finalPath: string, body: Buffer, tag: () => string): Promise<Stored> {
    return this.writer.writeGrouped(finalPath, body, tag());
  }

  putFile(
    finalPath: string,
    tmp: string,
    written: { readonly bytes: number; readonly sha256: string },
    tag: () => string,
  ): Promise<Stored> {
    return this.writer.stageFile(tmp, finalPath, written, tag());
  }

  get tempDir(): string {
    return this.writer.tempDir;
  }

  async existing(finalPath: string): Promise<Buffer | undefined> {
    return readFile(finalPath).catch(() => undefined);
  }

  leftovers(): TempLeftover[] {
    return this.writer.leftovers();
  }

  discard(tmp: string): void {
    this.writer.discard(tmp);
  }

  adopt(files: ReadonlyArray<{ readonly tmp: string; readonly finalPath: string }>): Promise<void> {
    return this.writer.adopt(files);
  }

  get waiting(): number {
    return this.writer.waiting;
  }

  get writingTemp(): number {
    return this.writer.writingTemp;
  }

  drain(): Promise<void> {
    return this.writer.drain();
  }

  close(): void {
    this.writer.close();
  }
}
