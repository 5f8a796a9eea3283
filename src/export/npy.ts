/**
 * The header of a NumPy .npy file (format spec: numpy.lib.format) for a C-order array of little-endian float32
 * (descr "<f4") or uint8 ("|u1"):
 * magic "\x93NUMPY", version, header length, then the header dict padded with spaces and ending in "\n" so
 * that the data starts at a multiple of 64 bytes. Version 1.0 (2-byte length) unless the header needs more
 * than 65535 bytes, then 2.0 (4-byte length).
 */
export function npyHeader(shape: readonly number[], descr: "<f4" | "|u1" = "<f4"): Buffer {
  if (shape.some((a) => !Number.isSafeInteger(a) || a < 0)) {
    throw new TypeError(`npy shape must be non-negative integers, got [${shape.join(", ")}]`);
  }
  // A one-element tuple needs a trailing comma in Python: (5,).
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${tuple}, }`;
  for (const [major, lengthBytes] of [
    [1, 2],
    [2, 4],
  ] as const) {
    const prefix = 6 + 2 + lengthBytes;
    // Room for the dict and its "\n", rounded up to 64 bytes including the prefix.
    const total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
    const headerLength = total - prefix;
    if (lengthBytes === 2 && headerLength > 0xffff) continue;
    const out = Buffer.alloc(total, 0x20);
    out.write("\x93NUMPY", 0, "latin1");
    out[6] = major;
    out[7] = 0;
    if (lengthBytes === 2) out.writeUInt16LE(headerLength, 8);
    else out.writeUInt32LE(headerLength, 8);
    out.write(dict, prefix, "latin1");
    out[total - 1] = 0x0a;
    return out;
  }
  throw new Error("internal: npy header does not fit");
}
