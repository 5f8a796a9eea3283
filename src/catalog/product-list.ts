import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { inputError, VocutError } from "../errors.js";
import { FitsError } from "../fits/errors.js";
import { parseVotable, VotableError, type VotableInfo } from "../votable/votable.js";
import { openDelimited, recordProblem } from "./delimited.js";
import { checkEcsvNames, readEcsvHeader } from "./ecsv.js";
import { listBinTables, readFitsRows } from "./fits-table.js";
import { detectFormat } from "./read-catalog.js";
import type { CatalogEvent } from "./types.js";

/**
 * A list of archive products to download: an ObsCore query result (VOTable) or any VOTable/CSV/TSV with
 * an access URL column. Rows stream in constant memory as catalog events, so planning, duplicate-id
 * checks and line-numbered bad-row reports are those of `vocut run`.
 */

/** How to find the list's columns; all optional: ObsCore names (and UCDs/utypes in VOTables) otherwise. */
export interface ProductListOptions {
  readonly urlCol?: string;
  readonly idCol?: string;
  readonly formatCol?: string;
  /** Refuse file:// access URLs (true for TAP results: a server must not make vocut copy local files). */
  readonly remoteOnly?: boolean;
}

/** An opened product list: which columns were used, its rows, and notes (OVERFLOW) once rows are read. */
export interface OpenedProductList {
  readonly format: "csv" | "tsv" | "ecsv" | "votable" | "fits";
  readonly columns: { readonly url: string; readonly id?: string; readonly format?: string };
  readonly events: AsyncIterable<CatalogEvent>;
  /** Warnings found while reading (a truncated query result); complete after `events` is exhausted. */
  readonly notes: string[];
}

interface Col {
  readonly name: string;
  readonly id?: string;
  readonly ucd?: string;
  readonly utype?: string;
}

const lower = (s: string | undefined): string => (s ?? "").toLowerCase();

/** The first column matching a test, as its index. */
function find(cols: readonly Col[], test: (c: Col) => boolean): number {
  return cols.findIndex(test);
}

function named(cols: readonly Col[], flag: string, name: string): number {
  const i = cols.findIndex((c) => c.name === name || c.id === name);
  const j = i >= 0 ? i : cols.findIndex((c) => lower(c.name) === lower(name));
  if (j < 0) {
    throw inputError(
      "CATALOG_COLUMN_UNKNOWN",
      `${flag} ${JSON.stringify(name)}: no such column (columns: ${cols.map((c) => c.name).join(", ")})`,
    );
  }
  return j;
}

/** ObsCore column by name, UCD or utype (ObsCore 1.1 table 6). */
function obscore(cols: readonly Col[], name: string, ucd: string, utype: string): number {
  const byName = find(cols, (c) => lower(c.name) === name);
  if (byName >= 0) return byName;
  const byUcd = find(cols, (c) => lower(c.ucd) === ucd);
  if (byUcd >= 0) return byUcd;
  return find(cols, (c) => lower(c.utype).endsWith(utype));
}

function chooseProductColumns(cols: readonly Col[], o: ProductListOptions) {
  const url =
    o.urlCol !== undefined
      ? named(cols, "--url-col", o.urlCol)
      : (() => {
          const i = obscore(cols, "access_url", "meta.ref.url", "access.reference");
          return i >= 0 ? i : find(cols, (c) => lower(c.name) === "url");
        })();
  if (url < 0) {
    throw inputError(
      "CATALOG_NO_URL",
      `no access URL column (access_url, or UCD meta.ref.url): give --url-col (columns: ${cols.map((c) => c.name).join(", ")})`,
    );
  }
  const id =
    o.idCol !== undefined
      ? named(cols, "--id-col", o.idCol)
      : (() => {
          const did = obscore(cols, "obs_publisher_did", "meta.ref.ivoid", "curation.publisherdid");
          return did >= 0 ? did : find(cols, (c) => lower(c.name) === "obs_id");
        })();
  const format =
    o.formatCol !== undefined
      ? named(cols, "--format-col", o.formatCol)
      : obscore(cols, "access_format", "meta.code.mime", "access.format");
  const ra = find(cols, (c) => lower(c.name) === "s_ra");
  const dec = find(cols, (c) => lower(c.name) === "s_dec");
  // File names (issue 13): the last segment of obs_id, else of the DID, else of the URL; with --id-col, of it.
  // Not by UCD: meta.id is worn by other columns too.
  const obsId = find(
    cols,
    (c) => lower(c.name) === "obs_id" || lower(c.utype).endsWith("dataid.observationid"),
  );
  const did = obscore(cols, "obs_publisher_did", "meta.ref.ivoid", "curation.publisherdid");
  const names = o.idCol !== undefined ? [id] : [obsId, did].filter((i) => i >= 0);
  const byName = (n: string): number => find(cols, (c) => lower(c.name) === n);
  const cost = {
    collection: byName("obs_collection"),
    type: byName("dataproduct_type"),
    est: byName("access_estsize"),
  };
  return { url, id, format, ra, dec, names, cost };
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (Array.isArray(v)) return v.map(String).join(" ").trim();
  return String(v).trim();
}

function coord(v: unknown, max: number): number {
  const x = typeof v === "number" ? v : Number(cell(v));
  return cell(v) !== "" && Number.isFinite(x) && Math.abs(x) <= max ? x : Number.NaN;
}

/** One row as an event: a product target, or a bad row (no URL, a URL vocut will not fetch, no id). */
function rowEvent(
  row: number,
  line: number | undefined,
  values: readonly unknown[],
  c: ReturnType<typeof chooseProductColumns>,
  names: readonly string[],
  o: ProductListOptions,
): CatalogEvent {
  const at = line === undefined ? { row } : { row, line };
  const bad = (reason: string, message: string): CatalogEvent => ({
    kind: "bad",
    bad: { ...at, reason, message },
  });
  const raw = cell(values[c.url]);
  if (raw === "") return bad("missing", `empty access URL in column ${names[c.url]}`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return bad("url", `access URL ${JSON.stringify(raw.slice(0, 200))} is not a URL`);
  }
  const schemes = o.remoteOnly === true ? ["http:", "https:"] : ["http:", "https:", "file:"];
  if (!schemes.includes(url.protocol)) {
    return bad(
      "url",
      `access URL ${JSON.stringify(raw.slice(0, 200))}: ${url.protocol} URLs are not fetched`,
    );
  }
  let id = raw;
  if (c.id >= 0) {
    id = cell(values[c.id]);
    if (id === "") return bad("missing", `empty id in column ${names[c.id]}`);
  }
  const format = c.format >= 0 ? cell(values[c.format]) : "";
  const ra = c.ra >= 0 ? coord(values[c.ra], 360) : Number.NaN;
  const dec = c.dec >= 0 ? coord(values[c.dec], 90) : Number.NaN;
  const nameFrom = [...c.names.map((i) => cell(values[i])), url.pathname, url.href];
  return {
    kind: "target",
    target: {
      id,
      row,
      raDeg: ra,
      decDeg: dec,
      product: { url: url.href, ...(format === "" ? {} : { format }), ...costOf(values, c.cost) },
      nameFrom,
    },
  };
}

/** The ObsCore cost columns of a row, where the list has them. */
function costOf(
  values: readonly unknown[],
  c: { collection: number; type: number; est: number },
): { collection?: string; productType?: string; estKb?: number } {
  const collection = c.collection >= 0 ? cell(values[c.collection]) : "";
  const type = c.type >= 0 ? cell(values[c.type]) : "";
  const est = c.est >= 0 ? cell(values[c.est]) : "";
  const kb = est === "" ? Number.NaN : Number(est);
  return {
    ...(collection === "" ? {} : { collection }),
    ...(type === "" ? {} : { productType: type }),
    ...(Number.isFinite(kb) && kb >= 0 ? { estKb: kb } : {}),
  };
}

/** Notes for INFO QUERY_STATUS=OVERFLOW (DALI: the service stopped at MAXREC). */
function overflowNotes(infos: readonly VotableInfo[]): string[] {
  return infos
    .filter((i) => i.name === "QUERY_STATUS" && i.value.toUpperCase() === "OVERFLOW")
    .slice(0, 1)
    .map(
      () =>
        "the service truncated the result (QUERY_STATUS=OVERFLOW): it holds more rows than were returned; raise --maxrec or narrow the query",
    );
}

/**
 * Open a product list. Throws VocutError (exit 3) for file-level problems: not found, unreadable, no
 * access URL column, a broken VOTable (QUERY_STATUS=ERROR included) or an unsupported format (FITS).
 */
export async function readProductList(path: string, o: ProductListOptions = {}): Promise<OpenedProductList> {
  const format = await detectFormat(path);
  if (format === "fits") return openFitsList(path, o);
  if (format === "votable") {
    const stream = createReadStream(path, { highWaterMark: 64 * 1024 });
    try {
      const table = await parseVotable(stream);
      const cols: Col[] = table.fields.map((f) => ({
        name: f.name,
        ...(f.id === undefined ? {} : { id: f.id }),
        ...(f.ucd === undefined ? {} : { ucd: f.ucd }),
        ...(f.utype === undefined ? {} : { utype: f.utype }),
      }));
      const c = chooseProductColumns(cols, o);
      const names = cols.map((x) => x.name);
      const notes: string[] = [];
      async function* events(): AsyncGenerator<CatalogEvent> {
        try {
          for await (const r of table.rows) yield rowEvent(r.row, r.line, r.values, c, names, o);
        } catch (e) {
          throw listError(path, e);
        }
        notes.push(...overflowNotes([...table.infos, ...table.trailingInfos]));
      }
      return { format, columns: columnNames(names, c), events: events(), notes };
    } catch (e) {
      stream.destroy();
      throw listError(path, e);
    }
  }
  const ecsv = format === "ecsv" ? await readEcsvHeader(path) : undefined;
  const file = await openDelimited(path, ecsv?.delimiter ?? (format === "tsv" ? "\t" : ","));
  const cols: Col[] = file.header.map((h) => ({ name: h.trim() }));
  let c: ReturnType<typeof chooseProductColumns>;
  try {
    if (ecsv !== undefined) checkEcsvNames(path, ecsv, file.header);
    c = chooseProductColumns(cols, o);
  } catch (e) {
    await file.records[Symbol.asyncIterator]().return?.(undefined);
    throw e;
  }
  const names = cols.map((x) => x.name);
  async function* events(): AsyncGenerator<CatalogEvent> {
    let row = 0;
    for await (const rec of file.records) {
      row++;
      const problem = recordProblem(rec, row, names.length);
      if (problem !== undefined || !rec.ok) {
        if (problem !== undefined) yield { kind: "bad", bad: problem };
        continue;
      }
      yield rowEvent(row, rec.line, rec.fields, c, names, o);
    }
  }
  return { format, columns: columnNames(names, c), events: events(), notes: [] };
}

function columnNames(names: readonly string[], c: ReturnType<typeof chooseProductColumns>) {
  return {
    url: names[c.url] ?? "",
    ...(c.id >= 0 ? { id: names[c.id] ?? "" } : {}),
    ...(c.format >= 0 ? { format: names[c.format] ?? "" } : {}),
  };
}

function listError(path: string, e: unknown): unknown {
  if (e instanceof VocutError) return e;
  if (e instanceof VotableError) {
    const where = e.line === undefined ? "" : ` (line ${e.line})`;
    return inputError("CATALOG_VOTABLE", `product list ${path}${where}: ${e.message}`, e);
  }
  return e;
}

/**
 * A product list in a FITS binary table: the first BINTABLE with an access URL column (by name or UCD).
 * Every fixed-size column is decoded (variable-length ones are left empty); rows stream in chunks.
 */
async function openFitsList(path: string, o: ProductListOptions): Promise<OpenedProductList> {
  const fh = await open(path, "r").catch((e: unknown) => {
    throw inputError("CATALOG_UNREADABLE", `cannot read product list ${path}: ${(e as Error).message}`, e);
  });
  try {
    const tables = await listBinTables(fh);
    let firstError: unknown = inputError(
      "CATALOG_FITS",
      `product list ${path} has no binary table (BINTABLE)`,
    );
    for (const table of tables) {
      const cols: Col[] = table.layout.columns.map((c) => ({
        name: c.name,
        ...(c.ucd === undefined ? {} : { ucd: c.ucd }),
      }));
      let c: ReturnType<typeof chooseProductColumns>;
      try {
        c = chooseProductColumns(cols, o);
      } catch (e) {
        firstError = tables.indexOf(table) === 0 ? e : firstError;
        continue;
      }
      const readable = table.layout.columns.filter((x) => x.type !== "P" && x.type !== "Q");
      const names = cols.map((x) => x.name);
      const width = cols.length;
      async function* events(): AsyncGenerator<CatalogEvent> {
        try {
          for await (const r of readFitsRows(fh, table, readable)) {
            const values: unknown[] = new Array(width).fill(undefined);
            readable.forEach((col, i) => {
              values[col.index - 1] = r.values[i];
            });
            yield rowEvent(r.row, undefined, values, c, names, o);
          }
        } catch (e) {
          if (e instanceof FitsError)
            throw inputError("CATALOG_FITS", `product list ${path}: ${e.message}`, e);
          throw e;
        } finally {
          await fh.close();
        }
      }
      return { format: "fits", columns: columnNames(names, c), events: events(), notes: [] };
    }
    throw firstError;
  } catch (e) {
    await fh.close().catch(() => {});
    if (e instanceof FitsError) throw inputError("CATALOG_FITS", `product list ${path}: ${e.message}`, e);
    throw e;
  }
}
