import Database from "better-sqlite3";
import { IMAGE_INDEX_SCHEMA } from "./schema.js";

/** A FITS file as the index last saw it. */
export interface IndexedFile {
  /** Path relative to the indexed folder, with "/" separators. */
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  /** How many times this file's headers have been read (1 after the first indexing). */
  readonly reads: number;
  readonly problem: string | null;
}

/** One image HDU to index. */
export interface IndexedImageInput {
  readonly hdu: number;
  /** Band keyword value, trimmed and lower-cased; null when the keyword is absent. */
  readonly band: string | null;
  readonly width: number;
  readonly height: number;
  /** The header as concatenated 80-character cards (no END). */
  readonly header: string;
  readonly dataOffset: number;
  readonly dataBytes: number;
  /** Sky boxes in degrees (RA 0..360). */
  readonly boxes: ReadonlyArray<{
    readonly minRa: number;
    readonly maxRa: number;
    readonly minDec: number;
    readonly maxDec: number;
  }>;
}

/** An indexed image HDU. */
export interface IndexedImage {
  readonly id: number;
  readonly path: string;
  readonly hdu: number;
  readonly band: string | null;
  readonly width: number;
  readonly height: number;
  readonly dataOffset: number;
  readonly dataBytes: number;
}

/**
 * The image index tables of a ledger (schema v3, IMAGE_INDEX_SCHEMA): the narrow handle a producing source
 * gets instead of the whole ledger. Every statement is prepared once; writes of one file are one
 * transaction, so a run killed while indexing leaves each file either indexed or not.
 */
export class ImageIndexStore {
  private readonly db: Database.Database;
  private readonly stmt;

  constructor(db: Database.Database) {
    this.db = db;
    this.stmt = {
      files: db.prepare<[], IndexedFile>(
        "SELECT path, size, mtime_ms AS mtimeMs, reads, problem FROM image_file ORDER BY path",
      ),
      getFile: db.prepare<[string], { reads: number }>("SELECT reads FROM image_file WHERE path = ?"),
      putFile: db.prepare<[string, number, number, number, string | null, number]>(
        `INSERT OR REPLACE INTO image_file(path, size, mtime_ms, reads, problem, indexed_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      boxesOfFile: db.prepare<[string]>(
        "DELETE FROM image_box WHERE image_id IN (SELECT id FROM image WHERE path = ?)",
      ),
      imagesOfFile: db.prepare<[string]>("DELETE FROM image WHERE path = ?"),
      dropFile: db.prepare<[string]>("DELETE FROM image_file WHERE path = ?"),
      putImage: db.prepare<[string, number, string | null, number, number, string, number, number]>(
        `INSERT INTO image(path, hdu, band, width, height, header, data_offset, data_bytes)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      putBox: db.prepare<[number, number, number, number, number]>(
        "INSERT INTO image_box(min_ra, max_ra, min_dec, max_dec, image_id) VALUES (?, ?, ?, ?, ?)",
      ),
      // DISTINCT: a footprint stored as two boxes (across RA = 0) touches a point in at most one, but a
      // box rounded outwards to float32 may meet the other at RA = 0 exactly.
      candidates: db.prepare<[number, number, number, number], IndexedImage>(
        `SELECT DISTINCT i.id AS id, i.path AS path, i.hdu AS hdu, i.band AS band, i.width AS width,
                i.height AS height, i.data_offset AS dataOffset, i.data_bytes AS dataBytes
           FROM image_box b JOIN image i ON i.id = b.image_id
          WHERE b.min_ra <= ? AND b.max_ra >= ? AND b.min_dec <= ? AND b.max_dec >= ?
          ORDER BY i.path, i.hdu`,
      ),
      header: db.prepare<[number], { header: string }>("SELECT header FROM image WHERE id = ?"),
      counts: db.prepare<[], { files: number; images: number }>(
        "SELECT (SELECT count(*) FROM image_file) AS files, (SELECT count(*) FROM image) AS images",
      ),
      bands: db.prepare<[], { band: string | null; n: number }>(
        "SELECT band, count(*) AS n FROM image GROUP BY band ORDER BY band",
      ),
    };
  }

  /** A throw-away index in memory (for `plan --dry-run`, which has no ledger). */
  static inMemory(): ImageIndexStore {
    const db = new Database(":memory:");
    db.exec(IMAGE_INDEX_SCHEMA);
    return new ImageIndexStore(db);
  }

  /** Every file in the index, by path. */
  files(): IndexedFile[] {
    return this.stmt.files.all();
  }

  /**
   * Replace everything known about one file (its images and boxes) in one transaction and count one more
   * read of it. `problem` explains a file that yields no image.
   */
  putFile(
    file: { path: string; size: number; mtimeMs: number },
    images: readonly IndexedImageInput[],
    problem: string | null,
  ): void {
    this.db.transaction(() => {
      const reads = (this.stmt.getFile.get(file.path)?.reads ?? 0) + 1;
      this.deleteImages(file.path);
      this.stmt.putFile.run(file.path, file.size, file.mtimeMs, reads, problem, Date.now());
      for (const im of images) {
        const id = Number(
          this.stmt.putImage.run(
            file.path,
            im.hdu,
            im.band,
            im.width,
            im.height,
            im.header,
            im.dataOffset,
            im.dataBytes,
          ).lastInsertRowid,
        );
        for (const b of im.boxes) this.stmt.putBox.run(b.minRa, b.maxRa, b.minDec, b.maxDec, id);
      }
    })();
  }

  /** Forget a file that is no longer in the folder. */
  dropFile(path: string): void {
    this.db.transaction(() => {
      this.deleteImages(path);
      this.stmt.dropFile.run(path);
    })();
  }

  /** Empty the index (the folder or band keyword of the job changed). */
  clear(): void {
    this.db.exec("DELETE FROM image_box; DELETE FROM image; DELETE FROM image_file;");
  }

  private deleteImages(path: string): void {
    this.stmt.boxesOfFile.run(path);
    this.stmt.imagesOfFile.run(path);
  }

  /** Images whose sky box holds (raDeg, decDeg), by path then HDU. RA in [0, 360). */
  candidates(raDeg: number, decDeg: number): IndexedImage[] {
    return this.stmt.candidates.all(raDeg, raDeg, decDeg, decDeg);
  }

  /** The stored header of an image (80-character cards, no END). */
  header(id: number): string {
    const r = this.stmt.header.get(id);
    if (r === undefined) throw new Error(`internal: image ${id} is not in the index`);
    return r.header;
  }

  /** Numbers of files and image HDUs in the index. */
  counts(): { files: number; images: number } {
    return this.stmt.counts.get() ?? { files: 0, images: 0 };
  }

  /** Image HDUs per band value (null: no band keyword). */
  bands(): Array<{ band: string | null; n: number }> {
    return this.stmt.bands.all();
  }
}
