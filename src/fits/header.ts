import { FitsError } from "./errors.js";

/** FITS files are made of 2880-byte blocks (36 cards of 80 characters). */
export const BLOCK_BYTES = 2880;
/** Every header card is exactly 80 ASCII characters. */
export const CARD_BYTES = 80;

/** A header value: string, number (float or safe integer), logical, integer beyond 2^53, or undefined (`null`). */
export type CardValue = string | number | boolean | bigint | null;

/**
 * One header card. For commentary cards (COMMENT, HISTORY, blank key) the text is `value` (a string).
 * Integral JS numbers are written as FITS integers (except -0), other numbers as FITS reals.
 */
export interface Card {
  readonly key: string;
  readonly value?: CardValue;
  readonly comment?: string;
}

const COMMENTARY = new Set(["COMMENT", "HISTORY", ""]);
const KEY_RE = /^[A-Z0-9_-]{0,8}$/;
const PRINTABLE_RE = /^[\x20-\x7e]*$/;
const INT_RE = /^[+-]?\d+$/;
const FLOAT_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[EeDd][+-]?\d+)?$/;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** True for keys whose card carries free text rather than a value (COMMENT, HISTORY, blank). */
export function isCommentaryKey(key: string): boolean {
  return COMMENTARY.has(key);
}

/**
 * The shortest FITS real that parses back to exactly `x`; always contains "." or "E" so readers see a float.
 * Throws TypeError for NaN and infinities, which FITS headers cannot hold.
 */
export function formatFloat(x: number): string {
  if (!Number.isFinite(x)) throw new TypeError(`FITS header reals must be finite, got ${x}`);
  if (Object.is(x, -0)) return "-0.0";
  // The shortest digits of a double >= 1e-4 have an exponent >= -4 (1e-4 itself is the least such double),
  // and of one < 1e16 an exponent < 16: String(x) alone, without the parse below (most header reals).
  const a = Math.abs(x);
  if (a >= 1e-4 && a < 1e16) {
    const s = String(x);
    return s.includes(".") ? s : `${s}.0`;
  }
  // toExponential() without an argument gives the shortest digits that round-trip (ECMA-262 Number::toString).
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(x.toExponential());
  if (m === null) throw new TypeError(`cannot format ${x}`);
  const exp = Number(m[4]);
  if (exp >= -4 && exp < 16) {
    // In this range String(x) is plain positional notation with the same shortest digits.
    const s = String(x);
    return s.includes(".") ? s : `${s}.0`;
  }
  const e = Math.abs(exp).toString().padStart(2, "0");
  return `${m[1]}${m[2]}.${m[3] ?? "0"}E${exp < 0 ? "-" : "+"}${e}`;
}

function formatValue(card: Card): { text: string; left: boolean } {
  const v = card.value;
  if (v === undefined || v === null) return { text: "", left: false };
  if (typeof v === "boolean") return { text: v ? "T" : "F", left: false };
  if (typeof v === "bigint") {
    const s = v.toString();
    if (s.length > 20) throw new TypeError(`card ${card.key}: integer ${s} is longer than 20 digits`);
    return { text: s, left: false };
  }
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new TypeError(`card ${card.key}: value ${v} cannot be written to FITS`);
    if (Number.isSafeInteger(v) && !Object.is(v, -0)) return { text: String(v), left: false };
    return { text: formatFloat(v), left: false };
  }
  if (!PRINTABLE_RE.test(v)) throw new TypeError(`card ${card.key}: string value must be printable ASCII`);
  // Quotes are doubled; the string is padded to at least 8 characters inside the quotes (FITS 4.2.1.1).
  const text = `'${v.replaceAll("'", "''").padEnd(8, " ")}'`;
  if (text.length > 70) {
    throw new TypeError(
      `card ${card.key}: string value is too long (${text.length - 2} > 68 characters quoted)`,
    );
  }
  return { text, left: true };
}

/**
 * Format one card as exactly 80 ASCII characters in FITS fixed format (values end in column 30, strings start
 * in column 11). Over-long comments are cut; a bad key, a non-ASCII or over-long value throws a TypeError
 * naming the key.
 */
export function formatCard(card: Card): string {
  let text = TEXT.get(card);
  if (text === undefined) {
    text = formatText(card).padEnd(CARD_BYTES, " ");
    TEXT.set(card, text);
  }
  return text;
}

/**
 * Each card object's text, kept while the object lives. Cards are immutable (every field readonly), and
 * writers reuse theirs: a job's stamps share all but a few cards (the band's provenance, the structural
 * ones, a target's WCS across its bands), so most of a header is looked up, not formatted again.
 */
const TEXT = new WeakMap<Card, string>();

/** A card's text without the trailing spaces (at most 80 characters). */
function formatText(card: Card): string {
  const key = card.key;
  if (!KEY_RE.test(key)) {
    throw new TypeError(`card key ${JSON.stringify(key)} must be at most 8 characters of A-Z, 0-9, "-", "_"`);
  }
  const comment = card.comment ?? "";
  if (!PRINTABLE_RE.test(comment)) throw new TypeError(`card ${key}: comment must be printable ASCII`);
  if (key === "END") return "END";
  if (COMMENTARY.has(key)) {
    const text = typeof card.value === "string" ? card.value : comment;
    if (!PRINTABLE_RE.test(text)) throw new TypeError(`card ${key}: text must be printable ASCII`);
    if (text.length > 72) throw new TypeError(`card ${key}: text is longer than 72 characters`);
    return `${key.padEnd(8, " ")}${text}`;
  }
  const { text, left } = formatValue(card);
  let line = `${key.padEnd(8, " ")}= ${left ? text.padEnd(20, " ") : text.padStart(20, " ")}`;
  if (comment !== "" && line.length <= CARD_BYTES - 3) line = `${line} / ${comment}`;
  return line.length > CARD_BYTES ? line.slice(0, CARD_BYTES) : line;
}

const END_CARD = "END".padEnd(CARD_BYTES, " ");

/**
 * Encode cards as a complete header: the cards, an END card, then spaces up to a multiple of 2880 bytes.
 * An END card in `cards` is ignored (END is always written last); formatting errors throw TypeError.
 */
export function encodeHeader(cards: readonly Card[]): Buffer {
  const texts: string[] = [];
  for (const c of cards) if (c.key !== "END") texts.push(formatCard(c));
  texts.push(END_CARD);
  // Each 80-character card written in place, then spaces to the block's end. (One joined string written
  // once took twice as long: flattening it costs more than the calls.)
  const used = texts.length * CARD_BYTES;
  const out = Buffer.allocUnsafe(Math.ceil(used / BLOCK_BYTES) * BLOCK_BYTES);
  for (let i = 0; i < texts.length; i++) {
    // Never short (formatCard pads to 80 printable ASCII characters): no byte of allocUnsafe is left.
    if (out.write(texts[i] as string, i * CARD_BYTES, "latin1") !== CARD_BYTES)
      throw new Error(`internal: card ${i} is not ${CARD_BYTES} bytes`);
  }
  return out.fill(0x20, used);
}

/** A parsed header: the cards in order plus typed look-ups (the first card with a key wins). */
export class FitsHeader {
  readonly cards: readonly Card[];
  readonly #index = new Map<string, Card>();

  constructor(cards: readonly Card[]) {
    this.cards = cards;
    for (const c of cards) if (!this.#index.has(c.key)) this.#index.set(c.key, c);
  }

  /** True when a card with this key exists. */
  has(key: string): boolean {
    return this.#index.has(key);
  }

  /** The value of the first card with this key; undefined when absent, null when the value is undefined. */
  get(key: string): CardValue | undefined {
    return this.#index.get(key)?.value;
  }

  /** A numeric value (bigint converted with rounding); undefined when absent; FitsError BAD_HEADER if not numeric. */
  getNumber(key: string): number | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    if (typeof v === "number") return v;
    if (typeof v === "bigint") return Number(v);
    throw new FitsError("BAD_HEADER", `${key} = ${String(v)} is not a number`);
  }

  /** A string value; undefined when absent; FitsError BAD_HEADER if the value is not a string. */
  getString(key: string): string | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    if (typeof v === "string") return v;
    throw new FitsError("BAD_HEADER", `${key} = ${String(v)} is not a string`);
  }

  /** A logical value; undefined when absent; FitsError BAD_HEADER if the value is not T or F. */
  getBoolean(key: string): boolean | undefined {
    const v = this.get(key);
    if (v === undefined) return undefined;
    if (typeof v === "boolean") return v;
    throw new FitsError("BAD_HEADER", `${key} = ${String(v)} is not a logical (T/F)`);
  }
}

function parseNumberToken(tok: string): CardValue {
  if (INT_RE.test(tok)) {
    const big = BigInt(tok);
    return big > MAX_SAFE || big < -MAX_SAFE ? big : Number(big);
  }
  if (FLOAT_RE.test(tok)) return Number.parseFloat(tok.replace(/[Dd]/, "E"));
  // Complex values "(re, im)" and non-standard tokens are kept as their text; typed getters reject them.
  return tok;
}

/** Parse the value field (columns 11-80, or what follows "=" for HIERARCH) into value and comment. */
function parseValueField(field: string, key: string, cardNo: number): Card {
  let i = 0;
  while (i < field.length && field[i] === " ") i++;
  if (field[i] === "'") {
    let s = "";
    let j = i + 1;
    for (;;) {
      const q = field.indexOf("'", j);
      if (q < 0) throw new FitsError("BAD_CARD", `card ${cardNo} (${key}): unterminated string value`);
      s += field.slice(j, q);
      if (field[q + 1] === "'") {
        s += "'";
        j = q + 2;
        continue;
      }
      j = q + 1;
      break;
    }
    const rest = field.slice(j);
    const slash = rest.indexOf("/");
    const value = s.replace(/ +$/, "");
    const comment = slash >= 0 ? rest.slice(slash + 1).trim() : "";
    return comment === "" ? { key, value } : { key, value, comment };
  }
  const slash = field.indexOf("/", i);
  const tok = (slash >= 0 ? field.slice(i, slash) : field.slice(i)).trim();
  const comment = slash >= 0 ? field.slice(slash + 1).trim() : "";
  let value: CardValue;
  if (tok === "") value = null;
  else if (tok === "T") value = true;
  else if (tok === "F") value = false;
  else value = parseNumberToken(tok);
  return comment === "" ? { key, value } : { key, value, comment };
}

/** Parse one 80-character card (already checked to be printable ASCII). */
function parseCard(line: string, cardNo: number): Card {
  const key = line.slice(0, 8).trimEnd();
  if (COMMENTARY.has(key)) return { key, value: line.slice(8).trimEnd() };
  if (key === "HIERARCH") {
    const eq = line.indexOf("=", 8);
    if (eq < 0) return { key, value: line.slice(8).trimEnd() };
    return parseValueField(line.slice(eq + 1), line.slice(0, eq).trim(), cardNo);
  }
  if (key === "CONTINUE") return parseValueField(line.slice(8), key, cardNo);
  if (line[8] === "=") return parseValueField(line.slice(10), key, cardNo);
  return { key, value: line.slice(8).trimEnd() };
}

/**
 * Parse the header starting at byte `offset` of `buf` (normally a multiple of 2880).
 * Returns the header and the offset of its data (the next 2880 boundary after END). Throws FitsError:
 * BAD_CARD (non-ASCII byte, unterminated string), NO_END (a block boundary at the end of `buf` without END),
 * TRUNCATED (`buf` ends inside a header block, even after END).
 */
export function parseHeader(buf: Buffer, offset: number): { header: FitsHeader; dataOffset: number } {
  const cards: Card[] = [];
  let pos = offset;
  for (;;) {
    if (pos + CARD_BYTES > buf.length) {
      const inBlock = (pos - offset) % BLOCK_BYTES !== 0 || pos < buf.length;
      if (inBlock || pos === offset) {
        throw new FitsError("TRUNCATED", `header at byte ${offset} is cut off at byte ${buf.length}`);
      }
      throw new FitsError("NO_END", `header at byte ${offset} has no END card`);
    }
    for (let b = pos; b < pos + CARD_BYTES; b++) {
      const c = buf[b] as number;
      if (c < 0x20 || c > 0x7e) {
        throw new FitsError(
          "BAD_CARD",
          `card ${cards.length + 1} of header at byte ${offset} has a non-ASCII byte 0x${c.toString(16)} at column ${b - pos + 1}`,
        );
      }
    }
    const line = buf.toString("latin1", pos, pos + CARD_BYTES);
    pos += CARD_BYTES;
    if (line.startsWith("END") && line.slice(3, 8).trim() === "") break;
    const card = parseCard(line, cards.length + 1);
    const prev = cards[cards.length - 1];
    // Long-string convention: a string ending in "&" continues in the following CONTINUE card.
    if (
      card.key === "CONTINUE" &&
      typeof card.value === "string" &&
      prev !== undefined &&
      typeof prev.value === "string" &&
      prev.value.endsWith("&") &&
      !COMMENTARY.has(prev.key)
    ) {
      const joined = prev.value.slice(0, -1) + card.value;
      const comment = [prev.comment, card.comment].filter((c) => c !== undefined && c !== "").join(" ");
      cards[cards.length - 1] =
        comment === "" ? { key: prev.key, value: joined } : { key: prev.key, value: joined, comment };
      continue;
    }
    cards.push(card);
  }
  const headerBytes = Math.ceil((pos - offset) / BLOCK_BYTES) * BLOCK_BYTES;
  if (offset + headerBytes > buf.length) {
    throw new FitsError("TRUNCATED", `header at byte ${offset} ends in an incomplete 2880-byte block`);
  }
  return { header: new FitsHeader(cards), dataOffset: offset + headerBytes };
}
