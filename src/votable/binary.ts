/**
 * Incremental decoding of VOTable BINARY and BINARY2 streams (VOTable 1.4 sec. 5.4-5.5): base64 text in,
 * rows of typed values out, holding at most one partial row plus one input chunk in memory.
 */

/** VOTable FIELD datatypes. */
export type VotableDatatype =
  | "boolean"
  | "bit"
  | "unsignedByte"
  | "short"
  | "int"
  | "long"
  | "char"
  | "unicodeChar"
  | "float"
  | "double"
  | "floatComplex"
  | "doubleComplex";

/** One decoded scalar: long values beyond 2^53 stay bigint; null is a null value. */
export type VotableScalar = string | number | bigint | boolean | null;
/** One decoded cell: a scalar, a string for char arrays, or an array for other arrays and complex numbers. */
export type VotableValue = VotableScalar | VotableScalar[];

/** What the binary decoder needs to know about a field. */
export interface BinaryFieldSpec {
  readonly name: string;
  readonly datatype: VotableDatatype;
  /** VOTable arraysize ("10", "*", "10*", "3x4", "3x*"); absent for a scalar. */
  readonly arraysize?: string;
  /** VALUES null: the stored integer that means null. */
  readonly nullValue?: string;
}

/** Bytes of one element of each datatype ("bit" is handled separately). */
const ELEMENT_BYTES: Record<VotableDatatype, number> = {
  boolean: 1,
  bit: 1,
  unsignedByte: 1,
  short: 2,
  int: 4,
  long: 8,
  char: 1,
  unicodeChar: 2,
  float: 4,
  double: 8,
  floatComplex: 8,
  doubleComplex: 16,
};

const DATATYPES = new Set(Object.keys(ELEMENT_BYTES));

/** True for the datatype names of VOTable 1.4. */
export function isVotableDatatype(s: string): s is VotableDatatype {
  return DATATYPES.has(s);
}

/** A decoding failure (bad base64, a row cut off at the end, an unknown datatype). */
export class VotableBinaryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "VotableBinaryError";
  }
}

/** Shape of a field's array: a fixed element count, or variable (a 4-byte count precedes the data). */
interface Shape {
  readonly variable: boolean;
  /** Element count when fixed; 1 for a scalar. */
  readonly count: number;
  readonly scalar: boolean;
}

/** Parse an arraysize attribute ("10", "*", "10*", "3x4", "3x*"); absent means a scalar. */
export function parseArraysize(arraysize: string | undefined): Shape {
  if (arraysize === undefined || arraysize.trim() === "") return { variable: false, count: 1, scalar: true };
  const dims = arraysize.trim().split("x");
  if (dims.some((d) => d.endsWith("*"))) return { variable: true, count: 0, scalar: false };
  let count = 1;
  for (const d of dims) {
    if (!/^\d+$/.test(d)) throw new VotableBinaryError(`arraysize ${JSON.stringify(arraysize)} is not valid`);
    count *= Number(d);
  }
  return { variable: false, count, scalar: false };
}

interface Plan {
  readonly spec: BinaryFieldSpec;
  readonly shape: Shape;
  readonly nullInt?: number | bigint;
}

function longValue(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function nullIntOf(spec: BinaryFieldSpec): number | bigint | undefined {
  if (spec.nullValue === undefined) return undefined;
  const t = spec.nullValue.trim();
  if (!/^[+-]?\d+$/.test(t) && !/^0x[0-9a-f]+$/i.test(t)) return undefined;
  return spec.datatype === "long" ? BigInt(t) : Number(t);
}

function readElement(buf: Buffer, o: number, p: Plan): VotableScalar | VotableScalar[] {
  switch (p.spec.datatype) {
    case "boolean": {
      const c = buf[o];
      if (c === 0x54 || c === 0x74 || c === 0x31) return true;
      if (c === 0x46 || c === 0x66 || c === 0x30) return false;
      return null;
    }
    case "unsignedByte":
    case "short":
    case "int": {
      const v =
        p.spec.datatype === "unsignedByte"
          ? buf.readUInt8(o)
          : p.spec.datatype === "short"
            ? buf.readInt16BE(o)
            : buf.readInt32BE(o);
      return p.nullInt !== undefined && v === p.nullInt ? null : v;
    }
    case "long": {
      const v = buf.readBigInt64BE(o);
      return p.nullInt !== undefined && v === p.nullInt ? null : longValue(v);
    }
    case "float":
      return buf.readFloatBE(o);
    case "double":
      return buf.readDoubleBE(o);
    case "floatComplex":
      return [buf.readFloatBE(o), buf.readFloatBE(o + 4)];
    case "doubleComplex":
      return [buf.readDoubleBE(o), buf.readDoubleBE(o + 8)];
    default:
      throw new VotableBinaryError(`datatype ${p.spec.datatype} is not an element type`);
  }
}

/** Decode `count` elements of field `p` at `o`; the caller has checked that the bytes are there. */
function decodeValue(buf: Buffer, o: number, count: number, p: Plan): VotableValue {
  const { datatype } = p.spec;
  if (datatype === "char" || datatype === "unicodeChar") {
    const text =
      datatype === "char"
        ? buf.toString("latin1", o, o + count)
        : Buffer.from(buf.subarray(o, o + 2 * count))
            .swap16()
            .toString("utf16le");
    // Fixed-size strings are padded with NULs: the string ends at the first one.
    const nul = text.indexOf("\0");
    return nul >= 0 ? text.slice(0, nul) : text;
  }
  if (datatype === "bit") {
    const bits: boolean[] = [];
    for (let i = 0; i < count; i++) bits.push((((buf[o + (i >> 3)] ?? 0) >> (7 - (i & 7))) & 1) === 1);
    return p.shape.scalar ? (bits[0] ?? null) : bits;
  }
  const size = ELEMENT_BYTES[datatype];
  if (p.shape.scalar) return readElement(buf, o, p);
  const out: VotableScalar[] = [];
  for (let i = 0; i < count; i++) {
    const v = readElement(buf, o + i * size, p);
    if (Array.isArray(v)) out.push(...v);
    else out.push(v);
  }
  return out;
}

function byteLength(datatype: VotableDatatype, count: number): number {
  return datatype === "bit" ? Math.ceil(count / 8) : count * ELEMENT_BYTES[datatype];
}

/**
 * Streaming BINARY/BINARY2 row decoder. Feed base64 text with {@link pushBase64} (or raw bytes with
 * {@link push}); each complete row is passed to `onRow` as one value per field. BINARY2 rows start with a
 * null-flag bitmask (most significant bit first, one bit per field). {@link end} throws VotableBinaryError
 * when bytes of an unfinished row are left.
 */
export class VotableBinaryDecoder {
  readonly #plans: readonly Plan[];
  readonly #binary2: boolean;
  readonly #onRow: (values: VotableValue[]) => void;
  readonly #maskBytes: number;
  #pending: Buffer = Buffer.alloc(0);
  #base64Carry = "";
  #rows = 0;

  constructor(
    fields: readonly BinaryFieldSpec[],
    options: { readonly binary2: boolean; readonly onRow: (values: VotableValue[]) => void },
  ) {
    this.#plans = fields.map((spec) => {
      if (!isVotableDatatype(spec.datatype)) {
        throw new VotableBinaryError(`field ${spec.name}: unknown datatype ${JSON.stringify(spec.datatype)}`);
      }
      const nullInt = nullIntOf(spec);
      const shape = parseArraysize(spec.arraysize);
      return nullInt === undefined ? { spec, shape } : { spec, shape, nullInt };
    });
    this.#binary2 = options.binary2;
    this.#onRow = options.onRow;
    this.#maskBytes = Math.ceil(fields.length / 8);
  }

  /** Rows decoded so far. */
  get rows(): number {
    return this.#rows;
  }

  /** Feed base64 text (whitespace allowed anywhere, split at any character). */
  pushBase64(text: string): void {
    const clean = this.#base64Carry + text.replace(/\s+/g, "");
    if (/[^A-Za-z0-9+/=]/.test(clean)) {
      const bad = /[^A-Za-z0-9+/=]/.exec(clean)?.[0] ?? "?";
      throw new VotableBinaryError(`STREAM holds a character that is not base64: ${JSON.stringify(bad)}`);
    }
    const whole = clean.length - (clean.length % 4);
    this.#base64Carry = clean.slice(whole);
    if (whole > 0) this.push(Buffer.from(clean.slice(0, whole), "base64"));
  }

  /** Feed decoded bytes. */
  push(bytes: Uint8Array): void {
    const buf =
      this.#pending.length === 0 ? Buffer.from(bytes) : Buffer.concat([this.#pending, Buffer.from(bytes)]);
    let pos = 0;
    for (;;) {
      const next = this.#decodeRow(buf, pos);
      if (next < 0) break;
      pos = next;
    }
    // Copy the tail so that the (large) input chunk can be freed.
    this.#pending = Buffer.from(buf.subarray(pos));
  }

  /** Finish: throws VotableBinaryError if a partial row or stray base64 characters are left. */
  end(): void {
    if (this.#base64Carry.replace(/=+$/, "") !== "") {
      throw new VotableBinaryError(`STREAM ends with ${this.#base64Carry.length} stray base64 characters`);
    }
    if (this.#pending.length > 0) {
      throw new VotableBinaryError(
        `STREAM ends inside row ${this.#rows + 1} (${this.#pending.length} bytes left over)`,
      );
    }
  }

  /** Decode one row at `pos`; returns the offset after it, or -1 when the row is not complete yet. */
  #decodeRow(buf: Buffer, pos: number): number {
    let o = pos;
    const mask = this.#binary2 ? o : -1;
    if (this.#binary2) o += this.#maskBytes;
    if (o > buf.length) return -1;
    const values: VotableValue[] = [];
    for (const [i, p] of this.#plans.entries()) {
      let count = p.shape.count;
      if (p.shape.variable) {
        if (o + 4 > buf.length) return -1;
        count = buf.readUInt32BE(o);
        o += 4;
      }
      const bytes = byteLength(p.spec.datatype, count);
      if (o + bytes > buf.length) return -1;
      const isNull = mask >= 0 && (((buf[mask + (i >> 3)] ?? 0) >> (7 - (i & 7))) & 1) === 1;
      values.push(isNull ? null : decodeValue(buf, o, count, p));
      o += bytes;
    }
    this.#rows++;
    this.#onRow(values);
    return o;
  }
}
