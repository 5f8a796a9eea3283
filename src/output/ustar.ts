/**
 * POSIX ustar member headers (POSIX.1-1988 ustar, with a pax extended header for names ustar cannot
 * hold). Written here rather than with an npm tar library: the stores append members at known offsets
 * of files they keep open and sync themselves, which the stream-oriented libraries do not offer.
 */

/** Size of a tar block; headers and data are padded to it. */
export const BLOCK = 512;
/** The end of an archive: two zero blocks. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);
/** Largest member data a ustar size field (11 octal digits) can hold. */
export const MAX_MEMBER_BYTES = 8 ** 11 - 1;

/** `n` rounded up to whole blocks. */
export function padded(n: number): number {
  return Math.ceil(n / BLOCK) * BLOCK;
}

function octal(buf: Buffer, at: number, width: number, n: number): void {
  // width - 1 digits, then NUL (what GNU tar and Python write).
  buf.write(`${n.toString(8).padStart(width - 1, "0")}\0`, at, width, "ascii");
}

/** One 512-byte ustar header. `name` and `prefix` must already fit (100 and 155 bytes). */
function header(name: string, prefix: string, size: number, mtimeSec: number, type: string): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, "utf8");
  octal(h, 100, 8, 0o644);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, mtimeSec);
  h.fill(0x20, 148, 156); // the checksum counts its own field as spaces
  h.write(type, 156, 1, "ascii");
  h.write("ustar\0", 257, 6, "ascii");
  h.write("00", 263, 2, "ascii");
  h.write(prefix, 345, 155, "utf8");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "ascii");
  return h;
}

/** `name` as ustar name + prefix (split at a `/`), or undefined when it does not fit or is not ASCII. */
function split(name: string): { name: string; prefix: string } | undefined {
  if (!/^[\x20-\x7e]+$/.test(name)) return undefined;
  if (name.length <= 100) return { name, prefix: "" };
  for (let i = name.indexOf("/"); i >= 0 && i <= 155; i = name.indexOf("/", i + 1)) {
    if (name.length - i - 1 <= 100 && i > 0) return { name: name.slice(i + 1), prefix: name.slice(0, i) };
  }
  return undefined;
}

/** A pax record `LEN key=value\n`, LEN counting the whole record in bytes. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const n = Buffer.byteLength(body);
  let len = n + String(n).length;
  if (String(len).length !== String(n).length) len = n + String(len).length;
  return `${len}${body}`;
}

/**
 * The header block(s) of a regular-file member `name` of `size` bytes: one ustar header, preceded by a
 * pax extended header (type `x`) holding the path when the name is longer than ustar's name and prefix
 * fields allow or not plain ASCII. The member's data follows, padded to BLOCK.
 */
export function memberHeader(name: string, size: number, mtimeSec: number): Buffer {
  if (size > MAX_MEMBER_BYTES)
    throw new RangeError(`tar member ${name}: ${size} bytes is over the ustar limit`);
  const mtime = Math.max(0, Math.floor(mtimeSec));
  const fits = split(name);
  if (fits !== undefined) return header(fits.name, fits.prefix, size, mtime, "0");
  const records = Buffer.from(paxRecord("path", name), "utf8");
  const base = name
    .slice(name.lastIndexOf("/") + 1)
    .replace(/[^\x20-\x7e]/g, "_")
    .slice(-80);
  return Buffer.concat([
    header(`PaxHeaders/${base}`, "", records.length, mtime, "x"),
    records,
    Buffer.alloc(padded(records.length) - records.length),
    header(base, "", size, mtime, "0"),
  ]);
}
