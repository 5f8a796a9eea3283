import { VERSION } from "../version.js";
import type { Card } from "./header.js";

/** At most this many HISTORY lines per text: a pathological URL must not grow a stamp's header without bound. */
const MAX_LINES_PER_TEXT = 8;
/** HISTORY text per card (a card holds 72 characters after the key; 70 keeps a margin). */
const LINE_CHARS = 70;

/**
 * The provenance cards of a stamp, one layout for every source that makes one (HiPS, --images, SIA):
 * BAND (the job's band label), the source's own `keys` in order, ORIGIN = 'vocut <version>' commented with
 * `how` the stamp was made, then each `history` text (image names, URLs: too long for a string card) as
 * HISTORY lines of at most 70 characters, at most 8 per text, non-ASCII characters written as '?'.
 */
export function provenanceCards(p: {
  readonly band: string;
  readonly how: string;
  readonly keys?: readonly Card[];
  readonly history?: readonly string[];
}): Card[] {
  const cards: Card[] = [
    { key: "BAND", value: p.band, comment: "vocut band label" },
    ...(p.keys ?? []),
    { key: "ORIGIN", value: `vocut ${VERSION}`, comment: p.how },
  ];
  for (const text of p.history ?? []) {
    const ascii = text.replace(/[^\x20-\x7e]/g, "?");
    for (let i = 0, n = 0; i < ascii.length && n < MAX_LINES_PER_TEXT; i += LINE_CHARS, n++)
      cards.push({ key: "HISTORY", value: ascii.slice(i, i + LINE_CHARS) });
  }
  return cards;
}
