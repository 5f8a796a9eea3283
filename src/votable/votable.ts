/**
 * Streaming VOTable reader (saxes): the FIELDs of the first TABLE, then its rows one at a time, from
 * TABLEDATA, BINARY or BINARY2 (base64). Memory stays bounded by one input chunk plus one row: base64 STREAM
 * text is taken out of the input before it reaches the XML parser, and any other text node longer than
 * `maxTextChars` is refused. Shared by catalog reading and by SIA/TAP responses.
 */
import { TextDecoder } from "node:util";
import { SaxesParser, type SaxesTagPlain } from "saxes";
import {
  type BinaryFieldSpec,
  isVotableDatatype,
  parseArraysize,
  VotableBinaryDecoder,
  VotableBinaryError,
  type VotableScalar,
  type VotableValue,
} from "./binary.js";

/** Value and datatype types, re-exported so that SIA/TAP code needs only this module. */
export type { VotableDatatype, VotableScalar, VotableValue } from "./binary.js";

/** Stable codes of {@link VotableError}. */
export type VotableErrorCode =
  /** Not well-formed XML (or cut off before the document ends). */
  | "XML"
  /** A DOCTYPE declaring entities (entity expansion is refused outright). */
  | "DOCTYPE"
  /** `<INFO name="QUERY_STATUS" value="ERROR">`: the service reported a failure. */
  | "QUERY_STATUS"
  /** The document has no TABLE. */
  | "NO_TABLE"
  /** A text node (or a tag) longer than `maxTextChars`. */
  | "TEXT_TOO_LARGE"
  /** Broken BINARY/BINARY2 data (bad base64, a row cut off). */
  | "BINARY"
  /** A valid VOTable this reader does not handle (FITS serialisation, STREAM href, gzip encoding). */
  | "UNSUPPORTED";

/** A VOTable that cannot be read, with a stable `code`; for QUERY_STATUS the service's own message. */
export class VotableError extends Error {
  readonly code: VotableErrorCode;
  /** 1-based line of the XML input where the problem was noticed, when known. */
  readonly line?: number;
  constructor(code: VotableErrorCode, message: string, line?: number) {
    super(message);
    this.name = "VotableError";
    this.code = code;
    if (line !== undefined) this.line = line;
  }
}

/** One FIELD of the table. */
export interface VotableField extends BinaryFieldSpec {
  /** `ID` attribute. */
  readonly id?: string;
  readonly ucd?: string;
  readonly unit?: string;
  readonly utype?: string;
  readonly xtype?: string;
}

/** One INFO element (anywhere in the document up to the point read). */
export interface VotableInfo {
  readonly name: string;
  readonly value: string;
  /** Element text, trimmed. */
  readonly content: string;
}

/** One table row: one value per field. */
export interface VotableRow {
  /** 1-based row number within the table. */
  readonly row: number;
  /** 1-based line of the `<TR>` tag (TABLEDATA only). */
  readonly line?: number;
  readonly values: VotableValue[];
}

/** The first TABLE of a VOTable: its fields, and its rows as a one-shot async iterable. */
export interface VotableTable {
  /** TABLE `name` attribute, if any. */
  readonly name?: string;
  readonly fields: readonly VotableField[];
  /** INFO elements seen before the data (QUERY_STATUS and friends). */
  readonly infos: readonly VotableInfo[];
  /**
   * INFO elements after the first table (DALI puts QUERY_STATUS=OVERFLOW there); filled while the rows are
   * read, complete once they are exhausted.
   */
  readonly trailingInfos: readonly VotableInfo[];
  /** How the rows are stored; "none" for a table without DATA. */
  readonly serialization: "TABLEDATA" | "BINARY" | "BINARY2" | "none";
  /**
   * Rows in order; iterate once. Throws VotableError when the rest of the document is broken (truncated,
   * bad base64, a QUERY_STATUS=ERROR after the table).
   */
  readonly rows: AsyncIterable<VotableRow>;
}

/** A whole document, or its bytes/text in chunks (a Node Readable is an AsyncIterable). */
export type VotableInput =
  | string
  | Uint8Array
  | AsyncIterable<Uint8Array | string>
  | Iterable<Uint8Array | string>;

/** Limits of {@link parseVotable}. */
export interface VotableOptions {
  /** Longest text node or tag accepted, in characters; default 4 MiB. */
  readonly maxTextChars?: number;
}

const DEFAULT_MAX_TEXT = 4 * 1024 * 1024;
const SLICE = 64 * 1024;
const STREAM_OPEN_RE = /<(?:[A-Za-z_][\w.-]*:)?STREAM(?=[\s>/])[^>]*>/;

function localName(name: string): string {
  const colon = name.indexOf(":");
  return colon < 0 ? name : name.slice(colon + 1);
}

/** Parse TABLEDATA text of one scalar element. Unparseable numbers stay text so callers can report them. */
function parseScalar(text: string, field: VotableField, nullInt: string | undefined): VotableScalar {
  const t = text.trim();
  if (t === "") return null;
  switch (field.datatype) {
    case "boolean": {
      if (/^(t|true|1)$/i.test(t)) return true;
      if (/^(f|false|0)$/i.test(t)) return false;
      return null;
    }
    case "unsignedByte":
    case "short":
    case "int":
    case "long": {
      if (nullInt !== undefined && t === nullInt) return null;
      if (!/^[+-]?\d+$/.test(t)) return /^0x[0-9a-f]+$/i.test(t) ? Number(t) : t;
      const big = BigInt(t);
      return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(t)
        : big;
    }
    default: {
      if (/^[+-]?nan$/i.test(t)) return Number.NaN;
      if (/^[+-]?inf(inity)?$/i.test(t)) return t.startsWith("-") ? -Infinity : Infinity;
      const n = Number(t);
      return Number.isNaN(n) ? t : n;
    }
  }
}

/** Turn the text of one TD into a typed value according to its FIELD. */
function parseTd(text: string, field: VotableField): VotableValue {
  if (field.datatype === "char" || field.datatype === "unicodeChar") return text === "" ? null : text;
  const nullInt = field.nullValue?.trim();
  const shape = parseArraysize(field.arraysize);
  if (field.datatype === "bit") {
    const bits = text.replace(/\s+/g, "");
    if (bits === "") return null;
    const out = [...bits].map((b) => b === "1");
    return shape.scalar ? (out[0] ?? null) : out;
  }
  const complex = field.datatype === "floatComplex" || field.datatype === "doubleComplex";
  if (shape.scalar && !complex) return parseScalar(text, field, nullInt);
  // An empty TD of an array field is an empty array (TABLEDATA cannot tell it from null).
  const parts = text.trim() === "" ? [] : text.trim().split(/\s+/);
  return parts.map((p) => parseScalar(p, field, nullInt));
}

async function* chunksOf(input: VotableInput): AsyncGenerator<Uint8Array | string> {
  if (typeof input === "string" || input instanceof Uint8Array) {
    for (let i = 0; i < input.length; i += SLICE) yield input.slice(i, i + SLICE);
    return;
  }
  yield* input;
}

/** Pick the text decoder from a BOM or the XML declaration's encoding (UTF-8 when unsure). */
function decoderFor(first: Uint8Array): TextDecoder {
  if (first[0] === 0xff && first[1] === 0xfe) return new TextDecoder("utf-16le");
  if (first[0] === 0xfe && first[1] === 0xff) return new TextDecoder("utf-16be");
  const head = Buffer.from(first.subarray(0, 200)).toString("latin1");
  const label = /^<\?xml[^>]*encoding\s*=\s*["']([^"']+)["']/.exec(head)?.[1];
  if (label !== undefined) {
    try {
      return new TextDecoder(label);
    } catch {
      // An unknown label: fall through to UTF-8.
    }
  }
  return new TextDecoder("utf-8");
}

type Item = { kind: "row"; row: VotableRow };

/** The push-parser state, fed chunk by chunk by {@link parseVotable}. */
class VotableReader {
  readonly #maxText: number;
  readonly #parser = new SaxesParser<{ xmlns: false; position: true }>({ xmlns: false, position: true });
  readonly queue: Item[] = [];
  readonly fields: VotableField[] = [];
  readonly infos: VotableInfo[] = [];
  readonly trailingInfos: VotableInfo[] = [];
  tableName: string | undefined;
  serialization: VotableTable["serialization"] = "none";
  /** The first TABLE's FIELDs are complete (its DATA started or it ended). */
  headerReady = false;
  sawTable = false;
  #tables = 0;
  #stack: string[] = [];
  #inFirstTable = false;
  #pendingText = "";
  #runSinceTag = 0;
  #bypass = false;
  #streamOpen = false;
  #sawRoot = false;
  #decoder: VotableBinaryDecoder | undefined;
  #binary2 = false;
  #rowCount = 0;
  #tdText: string | undefined;
  #trCells: string[] | undefined;
  #trLine = 0;
  #info: { name: string; value: string; content: string } | undefined;
  #field: { attrs: Record<string, string> } | undefined;

  constructor(maxText: number) {
    this.#maxText = maxText;
    const p = this.#parser;
    p.on("error", (e) => {
      throw new VotableError("XML", `not well-formed XML: ${e.message}`, p.line);
    });
    p.on("doctype", (d) => {
      if (/<!ENTITY/i.test(d)) this.#refuseEntities();
    });
    p.on("opentag", (t) => this.#open(t));
    p.on("closetag", (t) => this.#close(t));
    p.on("text", (t) => this.#text(t));
    p.on("cdata", (t) => this.#text(t));
  }

  #refuseEntities(): never {
    throw new VotableError(
      "DOCTYPE",
      "the document declares XML entities (<!ENTITY>); entity expansion is refused to guard against entity bombs",
      this.#parser.line,
    );
  }

  #open(t: SaxesTagPlain): void {
    const name = localName(t.name);
    const parent = this.#stack[this.#stack.length - 1];
    this.#stack.push(name);
    this.#sawRoot = true;
    const a = t.attributes as Record<string, string>;
    switch (name) {
      case "TABLE":
        this.sawTable = true;
        this.#tables++;
        if (this.#tables === 1) {
          this.#inFirstTable = true;
          if (a.name !== undefined) this.tableName = a.name;
        }
        return;
      case "INFO":
        this.#info = { name: a.name ?? "", value: a.value ?? "", content: "" };
        return;
      case "STREAM":
        // Any STREAM (also of later tables) is bypassed; only the first table's is decoded.
        this.#streamOpen = !t.isSelfClosing;
        if (this.#inFirstTable) this.#openStream(a);
        return;
      default:
    }
    if (!this.#inFirstTable) return;
    switch (name) {
      case "FIELD":
        if (parent === "TABLE") this.#field = { attrs: { ...a } };
        return;
      case "VALUES":
        if (parent === "FIELD" && this.#field !== undefined && a.null !== undefined) {
          this.#field.attrs["@null"] = a.null;
        }
        return;
      case "TABLEDATA":
        this.serialization = "TABLEDATA";
        this.headerReady = true;
        return;
      case "BINARY":
      case "BINARY2":
        this.serialization = name;
        this.#binary2 = name === "BINARY2";
        this.headerReady = true;
        return;
      case "FITS":
        throw new VotableError(
          "UNSUPPORTED",
          "FITS serialisation inside a VOTable is not supported",
          this.#parser.line,
        );
      case "TR":
        if (this.serialization === "TABLEDATA") {
          this.#trCells = [];
          this.#trLine = this.#parser.line;
        }
        return;
      case "TD":
        if (this.#trCells !== undefined) this.#tdText = "";
        return;
      default:
    }
  }

  #openStream(a: Record<string, string>): void {
    if (this.serialization !== "BINARY" && this.serialization !== "BINARY2") return;
    if (a.href !== undefined) {
      throw new VotableError(
        "UNSUPPORTED",
        `STREAM href=${JSON.stringify(a.href)}: external streams are not supported`,
      );
    }
    const encoding = a.encoding ?? "base64";
    if (encoding !== "base64") {
      throw new VotableError("UNSUPPORTED", `STREAM encoding="${encoding}" is not supported (only base64)`);
    }
    try {
      this.#decoder = new VotableBinaryDecoder(this.fields, {
        binary2: this.#binary2,
        onRow: (values) => {
          this.#rowCount++;
          this.queue.push({ kind: "row", row: { row: this.#rowCount, values } });
        },
      });
    } catch (e) {
      throw new VotableError("BINARY", (e as Error).message);
    }
  }

  #close(t: SaxesTagPlain): void {
    const name = localName(t.name);
    this.#stack.pop();
    switch (name) {
      case "INFO": {
        const info = this.#info;
        this.#info = undefined;
        if (info === undefined) return;
        const done = { ...info, content: info.content.trim() };
        if (this.infos.length < 100 && !this.headerReady) this.infos.push(done);
        else if (this.trailingInfos.length < 100 && this.headerReady) this.trailingInfos.push(done);
        if (done.name === "QUERY_STATUS" && done.value.toUpperCase() === "ERROR") {
          throw new VotableError(
            "QUERY_STATUS",
            `the service reported QUERY_STATUS=ERROR: ${done.content || "(no message)"}`,
            this.#parser.line,
          );
        }
        return;
      }
      case "STREAM":
        this.#streamOpen = false;
        this.#endStream();
        return;
      case "TABLE":
        if (this.#inFirstTable) {
          this.#inFirstTable = false;
          this.headerReady = true;
        }
        return;
      default:
    }
    if (!this.#inFirstTable) return;
    switch (name) {
      case "FIELD":
        if (this.#field !== undefined) {
          this.fields.push(this.#makeField(this.#field.attrs));
          this.#field = undefined;
        }
        return;
      case "TD":
        if (this.#tdText !== undefined && this.#trCells !== undefined) this.#trCells.push(this.#tdText);
        this.#tdText = undefined;
        return;
      case "TR": {
        const cells = this.#trCells;
        this.#trCells = undefined;
        if (cells === undefined) return;
        this.#rowCount++;
        // A row with too few TDs gets nulls; extra TDs are ignored (as other readers do).
        const values = this.fields.map((f, i) => {
          const c = cells[i];
          return c === undefined ? null : parseTd(c, f);
        });
        this.queue.push({ kind: "row", row: { row: this.#rowCount, line: this.#trLine, values } });
        return;
      }
      case "DATA":
        this.headerReady = true;
        return;
      default:
    }
  }

  #endStream(): void {
    const d = this.#decoder;
    this.#decoder = undefined;
    try {
      d?.end();
    } catch (e) {
      throw new VotableError("BINARY", (e as Error).message, this.#parser.line);
    }
  }

  #makeField(a: Record<string, string>): VotableField {
    const name = a.name ?? a.ID ?? `col${this.fields.length + 1}`;
    const datatype = a.datatype ?? "char";
    if (!isVotableDatatype(datatype)) {
      throw new VotableError("UNSUPPORTED", `FIELD ${name}: unknown datatype ${JSON.stringify(datatype)}`);
    }
    // A char FIELD without arraysize holds one character; keep that explicit for the binary decoder.
    const f: Record<string, string> = { name, datatype };
    const copy: Array<[string, string | undefined]> = [
      ["id", a.ID],
      ["ucd", a.ucd],
      ["unit", a.unit],
      ["utype", a.utype],
      ["xtype", a.xtype],
      ["arraysize", a.arraysize],
      ["nullValue", a["@null"]],
    ];
    for (const [k, v] of copy) if (v !== undefined) f[k] = v;
    return f as unknown as VotableField;
  }

  #text(t: string): void {
    if (this.#tdText !== undefined) this.#tdText += t;
    else if (this.#info !== undefined && this.#info.content.length < 10_000) this.#info.content += t;
    else if (this.#decoder !== undefined) this.#pushBase64(t);
  }

  #pushBase64(t: string): void {
    try {
      this.#decoder?.pushBase64(t);
    } catch (e) {
      if (e instanceof VotableBinaryError) throw new VotableError("BINARY", e.message, this.#parser.line);
      throw e;
    }
  }

  #write(s: string): void {
    if (s === "") return;
    // The longest stretch without "<" bounds what saxes buffers for one text node.
    let run = this.#runSinceTag;
    let longest = 0;
    let from = 0;
    for (let lt = s.indexOf("<"); lt >= 0; lt = s.indexOf("<", lt + 1)) {
      longest = Math.max(longest, run + lt - from);
      run = 0;
      from = lt;
    }
    this.#runSinceTag = run + s.length - from;
    if (Math.max(longest, this.#runSinceTag) > this.#maxText) {
      throw new VotableError(
        "TEXT_TOO_LARGE",
        `a text node is longer than ${this.#maxText} characters`,
        this.#parser.line,
      );
    }
    if (!this.#sawRoot && s.includes("<!ENTITY")) this.#refuseEntities();
    this.#parser.write(s);
  }

  /** Feed decoded text. Base64 STREAM content bypasses saxes (which would buffer the whole node). */
  feed(text: string): void {
    let s = this.#pendingText + text;
    this.#pendingText = "";
    while (s.length > 0) {
      if (this.#bypass) {
        const lt = s.indexOf("<");
        if (this.#decoder !== undefined) this.#pushBase64(lt < 0 ? s : s.slice(0, lt));
        if (lt < 0) return;
        this.#bypass = false;
        s = s.slice(lt);
        continue;
      }
      const m = s.includes("STREAM") ? STREAM_OPEN_RE.exec(s) : null;
      if (m !== null) {
        const end = m.index + m[0].length;
        this.#write(s.slice(0, end));
        s = s.slice(end);
        // Only bypass when saxes agrees that a STREAM of the first table is open (not a comment's text).
        this.#bypass = this.#streamOpen;
        continue;
      }
      // Hold back an unfinished tag so that "<STRE" + "AM>" split across chunks is still seen whole.
      const lastLt = s.lastIndexOf("<");
      if (lastLt >= 0 && s.indexOf(">", lastLt) < 0) {
        this.#write(s.slice(0, lastLt));
        this.#pendingText = s.slice(lastLt);
        if (this.#pendingText.length > this.#maxText) {
          throw new VotableError("TEXT_TOO_LARGE", `a tag is longer than ${this.#maxText} characters`);
        }
      } else {
        this.#write(s);
      }
      return;
    }
  }

  /** End of input: flush and check well-formedness. */
  finish(): void {
    if (this.#pendingText !== "") {
      const rest = this.#pendingText;
      this.#pendingText = "";
      this.#write(rest);
    }
    this.#parser.close();
  }
}

/**
 * Read a VOTable (whole document or a chunk stream) up to the first TABLE's DATA and return its fields and a
 * streaming row iterator; only the first TABLE is read (later ones are parsed for well-formedness and
 * QUERY_STATUS, then skipped). Throws VotableError: XML, DOCTYPE (entity declarations), QUERY_STATUS
 * (value ERROR, with the service's message), NO_TABLE, TEXT_TOO_LARGE, BINARY, UNSUPPORTED.
 */
export async function parseVotable(input: VotableInput, options: VotableOptions = {}): Promise<VotableTable> {
  const reader = new VotableReader(options.maxTextChars ?? DEFAULT_MAX_TEXT);
  const source = chunksOf(input)[Symbol.asyncIterator]();
  let decoder: TextDecoder | undefined;
  let ended = false;

  /** Feed one more chunk; false at end of input. */
  const pump = async (): Promise<boolean> => {
    if (ended) return false;
    const next = await source.next();
    if (next.done === true) {
      ended = true;
      const tail = decoder?.decode() ?? "";
      if (tail !== "") reader.feed(tail);
      reader.finish();
      return false;
    }
    const chunk = next.value;
    if (typeof chunk === "string") reader.feed(chunk);
    else {
      decoder ??= decoderFor(chunk);
      reader.feed(decoder.decode(chunk, { stream: true }));
    }
    return true;
  };
  const run = async <T>(f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (e) {
      await source.return?.(undefined);
      throw e;
    }
  };

  await run(async () => {
    while (!reader.headerReady && (await pump()));
  });
  if (!reader.sawTable) throw new VotableError("NO_TABLE", "the VOTable has no TABLE");

  async function* rows(): AsyncGenerator<VotableRow> {
    try {
      for (;;) {
        for (const item of reader.queue.splice(0)) yield item.row;
        if (!(await pump())) break;
      }
      for (const item of reader.queue.splice(0)) yield item.row;
    } finally {
      if (!ended) await source.return?.(undefined);
    }
  }
  return {
    ...(reader.tableName === undefined ? {} : { name: reader.tableName }),
    fields: reader.fields,
    infos: reader.infos,
    trailingInfos: reader.trailingInfos,
    serialization: reader.serialization,
    rows: rows(),
  };
}
