import { type Card, encodeHeader } from "../fits/header.js";

/** The longest string value a fixed-format card holds (68 characters between the quotes). */
const MAX_STRING = 68;

/** A band label as a FITS string value: printable ASCII, at most 68 characters. */
function cardString(text: string): string {
  const ascii = text.replace(/[^\x20-\x7e]/g, "?");
  return ascii.length > MAX_STRING ? `${ascii.slice(0, MAX_STRING - 3)}...` : ascii;
}

/**
 * The primary header of an N x B x H x W float32 (or BITPIX 8) cube (NAXIS1 = W, NAXIS2 = H, NAXIS3 = B, NAXIS4 = N),
 * with BANDn cards naming the planes of axis 3. The data (big-endian, padded to 2880 bytes) follows it.
 */
export function cubeHeader(
  shape: { n: number; b: number; h: number; w: number },
  bands: readonly string[],
  bitpix: -32 | 8 = -32,
): Buffer {
  const cards: Card[] = [
    { key: "SIMPLE", value: true, comment: "conforms to FITS standard" },
    bitpix === 8
      ? { key: "BITPIX", value: 8, comment: "8-bit display levels (PNG/JPEG stamps)" }
      : { key: "BITPIX", value: -32, comment: "IEEE float32" },
    { key: "NAXIS", value: 4, comment: "x, y, band, target" },
    { key: "NAXIS1", value: shape.w, comment: "x (stamp width)" },
    { key: "NAXIS2", value: shape.h, comment: "y (stamp height)" },
    { key: "NAXIS3", value: shape.b, comment: "band (see BANDn)" },
    { key: "NAXIS4", value: shape.n, comment: "target (row of the sidecar CSV)" },
    { key: "EXTEND", value: true },
    { key: "ORIGIN", value: "vocut export" },
  ];
  bands.forEach((band, i) => {
    cards.push({ key: `BAND${i + 1}`, value: cardString(band), comment: `band of plane ${i + 1} of NAXIS3` });
  });
  cards.push(
    { key: "COMMENT", value: "vocut export: every cutout of a job stacked as target x band x y x x." },
    { key: "COMMENT", value: "Target i (0-based, NAXIS4) is the row with index i of the sidecar CSV" },
    { key: "COMMENT", value: "(FILE.csv: index, id, ra, dec, <band>_state, <band>_file), in catalog" },
    {
      key: "COMMENT",
      value: `order. ${bitpix === 8 ? "0" : "NaN"} where a cutout is missing, failed, pending or no_coverage.`,
    },
  );
  return encodeHeader(cards);
}
