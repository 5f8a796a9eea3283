/**
 * Streaming CSV/TSV records (csv-parse) with the physical line each record starts on.
 */
import { createReadStream } from "node:fs";
import { Transform, type TransformCallback } from "node:stream";
import { type CsvError, type Options, Parser } from "csv-parse";
import { inputError } from "../errors.js";

/** One data record, or a record csv-parse could not split (an unclosed quote). */
export type DelimitedRecord =
  | { readonly ok: true; readonly fields: string[]; readonly line: number }
  | { readonly ok: false; readonly message: string; readonly line: number };

/**
 * Why a record cannot be used as a row of a table `width` columns wide: csv-parse could not split it, or
 * it has another number of fields than the header. Undefined when it is fine.
 */
export function recordProblem(
  rec: DelimitedRecord,
  row: number,
  width: number,
): { row: number; line: number; reason: string; message: string } | undefined {
  if (!rec.ok) return { row, line: rec.line, reason: "parse", message: rec.message };
  const n = rec.fields.length;
  if (n === width) return undefined;
  const message = `row has ${n} field${n === 1 ? "" : "s"} but the header has ${width}`;
  return { row, line: rec.line, reason: "ragged", message };
}

/** An opened delimited file: the header cells and the data records after it. */
export interface DelimitedFile {
  readonly header: string[];
  /** Data records in order; iterate once. */
  readonly records: AsyncIterable<DelimitedRecord>;
}

/**
 * CRLF -> LF before csv-parse: its line counter counts CR and LF of a quoted CRLF as two lines, so this keeps
 * line numbers physical (a CRLF inside a quoted field becomes LF, which no id should contain anyway).
 */
function crlfToLf(): Transform {
  let carryCr = false;
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      let buf = carryCr ? Buffer.concat([Buffer.from([0x0d]), chunk]) : chunk;
      carryCr = buf.length > 0 && buf[buf.length - 1] === 0x0d;
      if (carryCr) buf = buf.subarray(0, buf.length - 1);
      if (buf.indexOf(0x0d) < 0) return done(null, buf);
      const out = Buffer.allocUnsafe(buf.length);
      let n = 0;
      for (let i = 0; i < buf.length; i++) {
        const c = buf[i] as number;
        if (c === 0x0d && buf[i + 1] === 0x0a) continue;
        out[n++] = c;
      }
      done(null, out.subarray(0, n));
    },
    flush(done: TransformCallback) {
      done(null, carryCr ? Buffer.from([0x0d]) : null);
    },
  });
}

function newlines(fields: readonly string[]): number {
  let n = 0;
  for (const f of fields) {
    for (let i = f.indexOf("\n"); i >= 0; i = f.indexOf("\n", i + 1)) n++;
  }
  return n;
}

type Wrapped = { fields: string[]; endLine: number; skipped: CsvError[] };

/**
 * A csv-parse Parser that tags each record with the line it ends on (`info.lines` when it is pushed) and the
 * errors of records skipped just before it. Cheaper than `on_record`/`info: true`, which copy the whole info
 * object for every record (about 4 s per million rows).
 */
class LineParser extends Parser {
  readonly #takeSkips: () => CsvError[];
  constructor(options: Options, takeSkips: () => CsvError[]) {
    super(options);
    this.#takeSkips = takeSkips;
  }
  override push(chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk === null) return super.push(chunk, encoding);
    const w: Wrapped = { fields: chunk as string[], endLine: this.info.lines, skipped: this.#takeSkips() };
    return super.push(w, encoding);
  }
}

/**
 * Open a comma-, tab- or (ECSV) space-separated file and read its header row. Comment lines (starting with "#") and empty
 * lines are skipped, a UTF-8 BOM is dropped, quotes may hold delimiters and newlines, CRLF and LF both work;
 * records of any length are returned (the caller checks them against the header). Throws VocutError
 * CATALOG_UNREADABLE (I/O) or CATALOG_EMPTY (no header row).
 */
export async function openDelimited(path: string, delimiter: "," | "\t" | " "): Promise<DelimitedFile> {
  // csv-parse reports a record when its last line is read; errors of skipped records are collected in order
  // and handed out with the next record so that rows keep their order.
  let pendingSkips: CsvError[] = [];
  const options: Options = {
    delimiter,
    bom: true,
    comment: "#",
    comment_no_infix: true,
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    // Bounds the memory of one record (a missing closing quote would otherwise swallow the file).
    max_record_size: 1024 * 1024,
    on_skip: (err) => {
      if (err !== undefined) pendingSkips.push(err);
      return undefined;
    },
  };
  const parser = new LineParser(options, () => {
    const skipped = pendingSkips;
    pendingSkips = [];
    return skipped;
  });
  const file = createReadStream(path);
  const crlf = crlfToLf();
  file.on("error", (e) => parser.destroy(e));
  file.pipe(crlf).pipe(parser);
  const it = (parser as AsyncIterable<Wrapped>)[Symbol.asyncIterator]();
  const fileError = (e: unknown) =>
    inputError("CATALOG_UNREADABLE", `cannot read catalog ${path}: ${(e as Error).message}`, e);

  let first: IteratorResult<Wrapped>;
  try {
    first = await it.next();
  } catch (e) {
    throw fileError(e);
  }
  if (first.done === true) {
    throw inputError("CATALOG_EMPTY", `catalog ${path} has no header row (it is empty or all comments)`);
  }
  let lastEnd = first.value.endLine;

  async function* records(): AsyncGenerator<DelimitedRecord> {
    const skippedRecords = function* (skips: CsvError[]): Generator<DelimitedRecord> {
      for (const s of skips) {
        // The skipped record started after the previous one ended (blank or comment lines aside).
        yield { ok: false, message: s.message, line: lastEnd + 1 };
      }
    };
    try {
      for (;;) {
        let next: IteratorResult<Wrapped>;
        try {
          next = await it.next();
        } catch (e) {
          throw fileError(e);
        }
        if (next.done === true) break;
        const w = next.value;
        yield* skippedRecords(w.skipped);
        const line = w.endLine - newlines(w.fields);
        lastEnd = w.endLine;
        yield { ok: true, fields: w.fields, line };
      }
      yield* skippedRecords(pendingSkips.splice(0));
    } finally {
      file.destroy();
      parser.destroy();
    }
  }
  return { header: first.value.fields, records: records() };
}
