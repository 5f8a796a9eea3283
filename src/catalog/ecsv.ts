import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { parseDocument } from "yaml";
import { inputError } from "../errors.js";

/**
 * ECSV (astropy's "Enhanced CSV", https://github.com/astropy/astropy-APEs/blob/main/APE6.rst): `# ` lines
 * holding a YAML header (`datatype:` the columns with name, datatype, unit; `delimiter:` space by default),
 * then a header row of column names and space-separated rows with CSV quoting. The YAML is read with the
 * `yaml` package (aliases bounded); the rows go through the same csv-parse reader as CSV files.
 */

/** One column as the YAML header declares it. */
export interface EcsvColumn {
  readonly name: string;
  readonly datatype: string;
  readonly unit?: string;
}

/** The parsed YAML header. */
export interface EcsvHeader {
  readonly delimiter: " " | ",";
  readonly columns: readonly EcsvColumn[];
}

/** Longest YAML header read, bytes: a header is a few kB; this bounds a file that is all comments. */
const MAX_HEADER_BYTES = 4 * 2 ** 20;

/** True when text starts like an ECSV file ("# %ECSV 1.0"). */
export function looksEcsv(head: string): boolean {
  return /^\uFEFF?# %ECSV \d/.test(head);
}

/**
 * Read and check the YAML header of an ECSV file. Throws VocutError CATALOG_ECSV (exit 3) naming the
 * problem: no "%ECSV" line, YAML that does not parse, no `datatype` list, a column without a name.
 */
export async function readEcsvHeader(path: string): Promise<EcsvHeader> {
  const lines = createInterface({ input: createReadStream(path, { encoding: "utf8" }), crlfDelay: Infinity });
  const yaml: string[] = [];
  let size = 0;
  let first = true;
  try {
    for await (const raw of lines) {
      const line = first ? raw.replace(/^\uFEFF/, "") : raw;
      if (first) {
        if (!looksEcsv(line)) throw inputError("CATALOG_ECSV", `${path}: not ECSV (no "# %ECSV" first line)`);
        first = false;
        continue;
      }
      if (!line.startsWith("#")) break;
      size += line.length + 1;
      if (size > MAX_HEADER_BYTES)
        throw inputError("CATALOG_ECSV", `${path}: ECSV header over ${MAX_HEADER_BYTES} bytes`);
      yaml.push(line === "#" ? "" : line.replace(/^# ?/, ""));
    }
  } finally {
    lines.close();
  }
  let doc: unknown;
  try {
    // Errors are fatal, warnings (a tag this parser does not know) are not: only datatype/delimiter matter.
    const parsed = parseDocument(yaml.join("\n"), { strict: false });
    const err = parsed.errors[0];
    if (err !== undefined) throw err;
    doc = parsed.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw inputError(
      "CATALOG_ECSV",
      `${path}: the ECSV header is not valid YAML: ${(e as Error).message}`,
      e,
    );
  }
  const d = (doc ?? {}) as { datatype?: unknown; delimiter?: unknown };
  if (!Array.isArray(d.datatype) || d.datatype.length === 0) {
    throw inputError("CATALOG_ECSV", `${path}: the ECSV header has no "datatype" list of columns`);
  }
  const columns = d.datatype.map((c: unknown, i: number): EcsvColumn => {
    const col = (c ?? {}) as { name?: unknown; datatype?: unknown; unit?: unknown };
    if (typeof col.name !== "string" || col.name === "") {
      throw inputError("CATALOG_ECSV", `${path}: ECSV column ${i + 1} has no name`);
    }
    return {
      name: col.name,
      datatype: typeof col.datatype === "string" ? col.datatype : "string",
      ...(typeof col.unit === "string" ? { unit: col.unit } : {}),
    };
  });
  const delimiter = d.delimiter === undefined ? " " : d.delimiter;
  if (delimiter !== " " && delimiter !== ",") {
    throw inputError(
      "CATALOG_ECSV",
      `${path}: ECSV delimiter ${JSON.stringify(delimiter)} (only space or comma)`,
    );
  }
  return { delimiter, columns };
}

/** The header row must name the YAML's columns in the same order (ECSV 1.0); throws CATALOG_ECSV otherwise. */
export function checkEcsvNames(path: string, header: EcsvHeader, row: readonly string[]): void {
  const want = header.columns.map((c) => c.name);
  if (want.length !== row.length || want.some((n, i) => n !== row[i])) {
    throw inputError(
      "CATALOG_ECSV",
      `${path}: the header row (${row.join(" ")}) does not match the ECSV columns (${want.join(" ")})`,
    );
  }
}
