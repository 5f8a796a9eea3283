import { createReadStream } from "node:fs";
import { type FileHandle, open, stat } from "node:fs/promises";
import { extname } from "node:path";
import { inputError, VocutError } from "../errors.js";
import { FitsError } from "../fits/errors.js";
import { parseVotable, VotableError } from "../votable/votable.js";
import { type ChosenColumn, type ChosenColumns, type ColumnInfo, chooseColumns } from "./columns.js";
import { parseDec, parseRa } from "./coords.js";
import { openDelimited, recordProblem } from "./delimited.js";
import { checkEcsvNames, looksEcsv, readEcsvHeader } from "./ecsv.js";
import { type FitsTableHdu, listBinTables, readFitsRows } from "./fits-table.js";
import type { CatalogEvent, CatalogOptions } from "./types.js";

/** Catalog file formats. */
export type CatalogFormat = NonNullable<CatalogOptions["format"]>;

/** An opened catalog: its format, the columns chosen, and its rows as events. */
export interface OpenedCatalog {
  readonly format: CatalogFormat;
  /** The RA, Dec and (when present) id columns, and how each was chosen. */
  readonly columns: ChosenColumns;
  /**
   * Targets and bad rows in catalog order; iterate once (breaking out early closes the file). A file-level
   * failure found mid-way (truncated VOTable or FITS, QUERY_STATUS=ERROR after the table) throws VocutError.
   */
  readonly events: AsyncIterable<CatalogEvent>;
}

const SNIFF_BYTES = 4096;

async function sniff(path: string): Promise<Buffer> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, "r");
    const buf = Buffer.alloc(SNIFF_BYTES);
    const { bytesRead } = await fh.read(buf, 0, SNIFF_BYTES, 0);
    return buf.subarray(0, bytesRead);
  } catch (e) {
    throw inputError("CATALOG_UNREADABLE", `cannot read catalog ${path}: ${(e as Error).message}`, e);
  } finally {
    await fh?.close();
  }
}

/** The first line that is neither empty nor a "#" comment. */
function firstDataLine(text: string): string {
  for (const line of text.replace(/^\uFEFF/, "").split(/\r?\n/)) {
    if (line.trim() !== "" && !line.startsWith("#")) return line;
  }
  return "";
}

/**
 * The format of a catalog file: `options.format` when given; else its first bytes (FITS "SIMPLE  =", XML
 * "<"); else the extension (.csv, .tsv/.tab); else a tab in the header line means TSV, anything else CSV.
 * Throws VocutError CATALOG_NOT_FOUND, CATALOG_UNREADABLE, CATALOG_COMPRESSED (gzip) or CATALOG_ENCODING
 * (UTF-16, binary data).
 */
export async function detectFormat(path: string, options: CatalogOptions = {}): Promise<CatalogFormat> {
  let isFile: boolean;
  try {
    isFile = (await stat(path)).isFile();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw inputError("CATALOG_NOT_FOUND", `catalog ${path} does not exist`, e);
    throw inputError("CATALOG_UNREADABLE", `cannot read catalog ${path}: ${(e as Error).message}`, e);
  }
  if (!isFile) throw inputError("CATALOG_UNREADABLE", `catalog ${path} is not a regular file`);
  if (options.format !== undefined) return options.format;
  const head = await sniff(path);
  if (head[0] === 0x1f && head[1] === 0x8b) {
    throw inputError(
      "CATALOG_COMPRESSED",
      `catalog ${path} is gzip-compressed: decompress it first (gunzip)`,
    );
  }
  if (head.toString("latin1", 0, 9) === "SIMPLE  =") return "fits";
  if ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff)) {
    throw inputError("CATALOG_ENCODING", `catalog ${path} is UTF-16 text: save it as UTF-8`);
  }
  const text = head.toString("utf8");
  if (/^\uFEFF?\s*</.test(text)) return "votable";
  if (looksEcsv(text)) return "ecsv";
  if (head.includes(0)) {
    throw inputError(
      "CATALOG_ENCODING",
      `catalog ${path} holds binary data: expected CSV, TSV, VOTable or FITS`,
    );
  }
  const ext = extname(path).toLowerCase();
  if ([".fits", ".fit", ".fts"].includes(ext)) return "fits";
  if ([".xml", ".vot", ".votable"].includes(ext)) return "votable";
  if (ext === ".tsv" || ext === ".tab") return "tsv";
  if (ext === ".ecsv") return "ecsv";
  const header = firstDataLine(text);
  if (header.includes("\t") && (ext !== ".csv" || !header.includes(","))) return "tsv";
  return "csv";
}

/** The id text of a cell, or undefined when it is missing. */
function idText(v: unknown): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (Array.isArray(v)) return v.length === 0 ? undefined : v.map(String).join(" ");
  const s = typeof v === "string" ? v.trim() : String(v);
  return s === "" ? undefined : s;
}

/** Build the event of one row from its RA, Dec and id cells. */
function rowEvent(
  row: number,
  line: number | undefined,
  cols: ChosenColumns,
  ra: unknown,
  dec: unknown,
  id: unknown,
): CatalogEvent {
  const at = line === undefined ? { row } : { row, line };
  const r = parseRa(ra, cols.ra);
  if (!r.ok) return { kind: "bad", bad: { ...at, reason: r.reason, message: r.message } };
  const d = parseDec(dec, cols.dec);
  if (!d.ok) return { kind: "bad", bad: { ...at, reason: d.reason, message: d.message } };
  let idValue = String(row);
  if (cols.id !== undefined) {
    const t = idText(id);
    if (t === undefined) {
      return {
        kind: "bad",
        bad: { ...at, reason: "missing", message: `empty id in column ${cols.id.name}` },
      };
    }
    idValue = t;
  }
  return { kind: "target", target: { id: idValue, raDeg: r.deg, decDeg: d.deg, row } };
}

function fileError(path: string, e: unknown): unknown {
  if (e instanceof VocutError) return e;
  if (e instanceof VotableError) {
    const where = e.line === undefined ? "" : ` (line ${e.line})`;
    return inputError("CATALOG_VOTABLE", `catalog ${path}${where}: ${e.message}`, e);
  }
  if (e instanceof FitsError)
    return inputError("CATALOG_FITS", `catalog ${path}: ${e.message} [${e.code}]`, e);
  const code = (e as NodeJS.ErrnoException).code;
  if (typeof code === "string" && /^E[A-Z]+$/.test(code)) {
    return inputError("CATALOG_UNREADABLE", `cannot read catalog ${path}: ${(e as Error).message}`, e);
  }
  return e;
}

/** Re-throw file-level failures of an event stream as VocutError. */
async function* guarded(path: string, events: AsyncIterable<CatalogEvent>): AsyncGenerator<CatalogEvent> {
  try {
    yield* events;
  } catch (e) {
    throw fileError(path, e);
  }
}

async function openText(
  path: string,
  format: "csv" | "tsv" | "ecsv",
  options: CatalogOptions,
): Promise<OpenedCatalog> {
  const ecsv = format === "ecsv" ? await readEcsvHeader(path) : undefined;
  const file = await openDelimited(path, ecsv?.delimiter ?? (format === "tsv" ? "\t" : ","));
  if (ecsv !== undefined) {
    try {
      checkEcsvNames(path, ecsv, file.header);
    } catch (e) {
      await file.records[Symbol.asyncIterator]().return?.(undefined);
      throw e;
    }
  }
  // ECSV declares units (deg, hourangle): the column chooser reads them as it reads VOTable units.
  const infos: ColumnInfo[] = file.header.map((h, i) => {
    const unit = ecsv?.columns[i]?.unit;
    return unit === undefined ? { name: h.trim() } : { name: h.trim(), unit };
  });
  let columns: ChosenColumns;
  try {
    columns = chooseColumns(infos, options);
  } catch (e) {
    await file.records[Symbol.asyncIterator]().return?.(undefined);
    throw e;
  }
  const width = infos.length;
  const used: ChosenColumn[] = [columns.ra, columns.dec, ...(columns.id === undefined ? [] : [columns.id])];
  async function* events(): AsyncGenerator<CatalogEvent> {
    let row = 0;
    // Not wrapped in guarded(): one async-generator layer less per row (records() already maps I/O errors).
    for await (const rec of file.records) {
      row++;
      const problem = recordProblem(rec, row, width);
      if (problem !== undefined || !rec.ok) {
        if (problem !== undefined) yield { kind: "bad", bad: problem };
        continue;
      }
      const f = rec.fields;
      const broken = used.find((c) => f[c.index]?.includes("\uFFFD"));
      if (broken !== undefined) {
        const message = `column ${broken.name} holds bytes that are not valid UTF-8: ${JSON.stringify(f[broken.index])}`;
        yield { kind: "bad", bad: { row, line: rec.line, reason: "encoding", message } };
        continue;
      }
      const idCell = columns.id === undefined ? undefined : f[columns.id.index];
      yield rowEvent(row, rec.line, columns, f[columns.ra.index], f[columns.dec.index], idCell);
    }
  }
  return { format, columns, events: events() };
}

async function openVotable(path: string, options: CatalogOptions): Promise<OpenedCatalog> {
  const stream = createReadStream(path, { highWaterMark: 64 * 1024 });
  try {
    const table = await parseVotable(stream);
    const infos: ColumnInfo[] = table.fields.map((f) => {
      const c: { name: string; id?: string; ucd?: string; unit?: string } = { name: f.name };
      if (f.id !== undefined) c.id = f.id;
      if (f.ucd !== undefined) c.ucd = f.ucd;
      if (f.unit !== undefined) c.unit = f.unit;
      return c;
    });
    const columns = chooseColumns(infos, options);
    async function* events(): AsyncGenerator<CatalogEvent> {
      for await (const r of table.rows) {
        const v = r.values;
        const idCell = columns.id === undefined ? undefined : v[columns.id.index];
        yield rowEvent(r.row, r.line, columns, v[columns.ra.index], v[columns.dec.index], idCell);
      }
    }
    return { format: "votable", columns, events: guarded(path, events()) };
  } catch (e) {
    stream.destroy();
    throw fileError(path, e);
  }
}

function checkFitsColumn(path: string, table: FitsTableHdu, c: ChosenColumn): void {
  const col = table.layout.columns[c.index];
  if (col === undefined) return;
  if (col.type === "P" || col.type === "Q") {
    throw inputError(
      "CATALOG_FITS",
      `catalog ${path}: column ${col.name} is variable-length (${col.tform}): not supported`,
    );
  }
  if (col.type !== "A" && col.repeat !== 1) {
    throw inputError(
      "CATALOG_FITS",
      `catalog ${path}: column ${col.name} holds ${col.repeat} values per row, not one`,
    );
  }
}

async function openFitsCatalog(path: string, options: CatalogOptions): Promise<OpenedCatalog> {
  const fh = await open(path, "r").catch((e: unknown) => {
    throw fileError(path, e);
  });
  try {
    const tables = await listBinTables(fh);
    if (tables.length === 0)
      throw inputError("CATALOG_FITS", `catalog ${path} has no binary table (BINTABLE) extension`);
    // The first BINTABLE in which RA/Dec columns can be found; else the first table's error.
    let chosen: { table: FitsTableHdu; columns: ChosenColumns } | undefined;
    let firstError: unknown;
    for (const table of tables) {
      const infos: ColumnInfo[] = table.layout.columns.map((c) => {
        const info: { name: string; ucd?: string; unit?: string } = { name: c.name };
        if (c.ucd !== undefined) info.ucd = c.ucd;
        if (c.unit !== undefined) info.unit = c.unit;
        return info;
      });
      try {
        chosen = { table, columns: chooseColumns(infos, options) };
        break;
      } catch (e) {
        firstError ??= e;
      }
    }
    if (chosen === undefined) throw firstError;
    const { table, columns } = chosen;
    const used = [columns.ra, columns.dec, ...(columns.id === undefined ? [] : [columns.id])];
    for (const c of used) checkFitsColumn(path, table, c);
    const binCols = used.map((c) => table.layout.columns[c.index]).filter((c) => c !== undefined);
    async function* events(): AsyncGenerator<CatalogEvent> {
      try {
        for await (const r of readFitsRows(fh, table, binCols)) {
          const [ra, dec, id] = r.values;
          yield rowEvent(r.row, undefined, columns, ra, dec, id);
        }
      } finally {
        await fh.close();
      }
    }
    return { format: "fits", columns, events: guarded(path, events()) };
  } catch (e) {
    await fh.close();
    throw fileError(path, e);
  }
}

/**
 * Open a catalog (CSV, TSV, VOTable or FITS binary table), choose its RA/Dec/id columns, and stream its rows
 * as events in constant memory. Rows with bad values are `{kind: "bad"}` events (reasons "parse", "nan",
 * "ra_range", "dec_range", "missing", "ragged", "encoding"); without an id column the id is the 1-based row
 * number. Throws VocutError (exit 3) for file-level problems: CATALOG_NOT_FOUND, CATALOG_UNREADABLE,
 * CATALOG_EMPTY, CATALOG_NO_RADEC, CATALOG_COLUMN_UNKNOWN, CATALOG_COMPRESSED, CATALOG_ENCODING,
 * CATALOG_VOTABLE, CATALOG_FITS.
 */
export async function readCatalog(path: string, options: CatalogOptions = {}): Promise<OpenedCatalog> {
  const format = await detectFormat(path, options);
  switch (format) {
    case "csv":
    case "tsv":
    case "ecsv":
      return openText(path, format, options);
    case "votable":
      return openVotable(path, options);
    case "fits":
      return openFitsCatalog(path, options);
  }
}
