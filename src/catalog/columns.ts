import { inputError } from "../errors.js";
import type { CatalogOptions } from "./types.js";

/** What a catalog format knows about one column. */
export interface ColumnInfo {
  /** Column name as written (CSV header cell, VOTable FIELD name, FITS TTYPEn). */
  readonly name: string;
  /** VOTable FIELD ID, also accepted by --ra-col/--dec-col/--id-col. */
  readonly id?: string;
  /** UCD (VOTable `ucd`, FITS `TUCDn`). */
  readonly ucd?: string;
  /** Unit (VOTable `unit`, FITS `TUNITn`). */
  readonly unit?: string;
}

/** A chosen column: its 0-based position and what is known about it. */
export interface ChosenColumn extends ColumnInfo {
  /** 0-based position among the columns. */
  readonly index: number;
  /** How it was chosen: named by an option, by its UCD or by its name. */
  readonly by: "option" | "ucd" | "name";
}

/** The columns a catalog is read from; no `id` means ids are the 1-based row numbers. */
export interface ChosenColumns {
  readonly ra: ChosenColumn;
  readonly dec: ChosenColumn;
  readonly id?: ChosenColumn;
}

/** Normalised name: lower case, letters and digits only ("RA (deg)" -> "radeg", "_RAJ2000" -> "raj2000"). */
function key(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, "");
}

/** Accepted names, most preferred first, in normalised form. */
const RA_NAMES = [
  "ra",
  "radeg",
  "raj2000",
  "raicrs",
  "ra2000",
  "rajdeg",
  "radegrees",
  "raj2000deg",
  "rahms",
  "alpha",
  "alphaj2000",
  "rightascension",
  "sra",
];
const DEC_NAMES = [
  "dec",
  "decdeg",
  "dedeg",
  "decj2000",
  "dej2000",
  "decicrs",
  "deicrs",
  "dec2000",
  "decjdeg",
  "decdegrees",
  "decj2000deg",
  "dej2000deg",
  "decdms",
  "dedms",
  "delta",
  "deltaj2000",
  "declination",
  "sdec",
  "de",
];
const ID_NAMES = [
  "id",
  "objid",
  "objectid",
  "sourceid",
  "srcid",
  "name",
  "objname",
  "objectname",
  "designation",
  "mainid",
  "target",
  "targetname",
];

/** Normalised UCD: lower case, no blanks ("POS_EQ_RA_MAIN" stays recognisable). */
function ucdKey(ucd: string | undefined): string {
  return (ucd ?? "").toLowerCase().replace(/\s+/g, "");
}
const RA_MAIN_UCDS = new Set(["pos.eq.ra;meta.main", "pos_eq_ra_main"]);
const DEC_MAIN_UCDS = new Set(["pos.eq.dec;meta.main", "pos_eq_dec_main"]);
const ID_MAIN_UCDS = new Set(["meta.id;meta.main", "id_main"]);

function listColumns(columns: readonly ColumnInfo[]): string {
  const names = columns.map((c) => JSON.stringify(c.name));
  return names.length > 40
    ? `${names.slice(0, 40).join(", ")}, … (${names.length} in all)`
    : names.join(", ");
}

function byOption(columns: readonly ColumnInfo[], wanted: string, flag: string): ChosenColumn {
  let i = columns.findIndex((c) => c.name === wanted || c.id === wanted);
  if (i < 0) i = columns.findIndex((c) => c.name.toLowerCase() === wanted.toLowerCase());
  const c = columns[i];
  if (c === undefined) {
    throw inputError(
      "CATALOG_COLUMN_UNKNOWN",
      `${flag} ${JSON.stringify(wanted)}: no such column; the catalog has ${listColumns(columns)}`,
    );
  }
  return { ...c, index: i, by: "option" };
}

function detect(
  columns: readonly ColumnInfo[],
  names: readonly string[],
  mainUcds: ReadonlySet<string>,
  plainUcd: string | undefined,
): ChosenColumn | undefined {
  const ucdHit = columns.findIndex((c) => mainUcds.has(ucdKey(c.ucd)));
  if (ucdHit >= 0) return { ...(columns[ucdHit] as ColumnInfo), index: ucdHit, by: "ucd" };
  let best: { index: number; rank: number } | undefined;
  for (const [index, c] of columns.entries()) {
    const rank = names.indexOf(key(c.name));
    if (rank >= 0 && (best === undefined || rank < best.rank)) best = { index, rank };
  }
  if (best !== undefined) return { ...(columns[best.index] as ColumnInfo), index: best.index, by: "name" };
  // A single plain "pos.eq.ra" (without meta.main) is unambiguous enough.
  if (plainUcd !== undefined) {
    const plain = columns.flatMap((c, index) => (ucdKey(c.ucd).split(";")[0] === plainUcd ? [index] : []));
    const only = plain.length === 1 ? plain[0] : undefined;
    if (only !== undefined) return { ...(columns[only] as ColumnInfo), index: only, by: "ucd" };
  }
  return undefined;
}

/**
 * Choose the RA, Dec and (optional) id columns: options --ra-col/--dec-col/--id-col win (exact name or
 * VOTable ID, then case-insensitive); else the `meta.main` UCD (UCD1+ or UCD1); else a known name
 * (case-insensitive, punctuation ignored: "RA_deg", "RAJ2000", "ra (deg)", ...); else a lone `pos.eq.ra` UCD.
 * Throws VocutError CATALOG_COLUMN_UNKNOWN (a named column is absent) or CATALOG_NO_RADEC (listing the
 * columns it saw and suggesting --ra-col/--dec-col).
 */
export function chooseColumns(columns: readonly ColumnInfo[], options: CatalogOptions): ChosenColumns {
  const ra =
    options.raCol !== undefined
      ? byOption(columns, options.raCol, "--ra-col")
      : detect(columns, RA_NAMES, RA_MAIN_UCDS, "pos.eq.ra");
  const dec =
    options.decCol !== undefined
      ? byOption(columns, options.decCol, "--dec-col")
      : detect(columns, DEC_NAMES, DEC_MAIN_UCDS, "pos.eq.dec");
  if (ra === undefined || dec === undefined) {
    const missing =
      ra === undefined && dec === undefined
        ? "RA and Dec columns"
        : ra === undefined
          ? "an RA column"
          : "a Dec column";
    const hint =
      columns.length === 1 && /\s/.test(columns[0]?.name ?? "")
        ? " (only one column: is the file space-separated? vocut reads comma- or tab-separated text)"
        : "";
    throw inputError(
      "CATALOG_NO_RADEC",
      `cannot find ${missing} among ${listColumns(columns)}${hint}; name them with --ra-col and --dec-col`,
    );
  }
  const id =
    options.idCol !== undefined
      ? byOption(columns, options.idCol, "--id-col")
      : detect(columns, ID_NAMES, ID_MAIN_UCDS, undefined);
  return id === undefined ? { ra, dec } : { ra, dec, id };
}
