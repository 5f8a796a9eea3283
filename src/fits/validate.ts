import { FitsError, type FitsErrorCode } from "./errors.js";
import { walkHdus } from "./hdu.js";

/** Outcome of {@link validateFits}: either the HDU count and size, or a stable code and a readable message. */
export type FitsValidation =
  | { readonly ok: true; readonly hdus: number; readonly bytes: number }
  | { readonly ok: false; readonly code: FitsErrorCode; readonly message: string };

const SNIFF_BYTES = 64 * 1024;
const MAX_DETAIL = 200;

function clip(text: string): string {
  const t = text.replace(/\s+/g, " ").trim();
  return t.length > MAX_DETAIL ? `${t.slice(0, MAX_DETAIL - 3)}...` : t;
}

function decodeEntities(text: string): string {
  return text
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&amp;/g, "&");
}

/** The text of the first `<tag ...>text</tag>` in `xml` matching `open` (a regex source), if any. */
function elementText(xml: string, open: string): string | undefined {
  const m = new RegExp(`<${open}[^>]*>([\\s\\S]*?)</`, "i").exec(xml);
  const t = m?.[1] === undefined ? "" : clip(decodeEntities(m[1].replace(/<[^>]*>/g, " ")));
  return t === "" ? undefined : t;
}

function fail(code: FitsErrorCode, message: string): FitsValidation {
  return { ok: false, code, message };
}

/** Name the common non-FITS bodies (HTML, JSON, XML/VOTable, gzip); undefined when the body may be FITS. */
function sniff(buf: Buffer): FitsValidation | undefined {
  if (buf[0] === 0x1f && buf[1] === 0x8b) {
    return fail(
      "GZIP",
      "body is gzip-compressed (1f 8b), not FITS: undecoded Content-Encoding or a .fits.gz file",
    );
  }
  if (buf.subarray(0, 9).toString("latin1") === "SIMPLE  =") return undefined;
  const head = buf
    .subarray(0, SNIFF_BYTES)
    .toString("utf8")
    .replace(/^\uFEFF/, "");
  const start = head.trimStart();
  const lower = start.slice(0, 512).toLowerCase();
  if (
    lower.startsWith("<!doctype html") ||
    lower.startsWith("<html") ||
    /^<(head|body|title)[\s>]/.test(lower)
  ) {
    const title = elementText(head, "title");
    return fail("HTML", `body is an HTML page, not FITS${title === undefined ? "" : `: ${title}`}`);
  }
  if (lower.startsWith("<?xml") || lower.startsWith("<votable") || lower.startsWith("<vot:votable")) {
    const isVot = lower.includes("<votable") || lower.includes(":votable");
    const info =
      elementText(head, `INFO[^>]*name=["']QUERY_STATUS["']`) ??
      /<INFO[^>]*name=["']QUERY_STATUS["'][^>]*value=["']([^"']*)["']/i.exec(head)?.[1];
    const what = isVot ? "a VOTable" : "an XML document";
    if (/^<(!doctype html|html)/.test(lower.replace(/^<\?xml[^>]*>\s*/, ""))) {
      const title = elementText(head, "title");
      return fail("HTML", `body is an HTML page, not FITS${title === undefined ? "" : `: ${title}`}`);
    }
    return fail("XML", `body is ${what}, not FITS${info === undefined ? "" : `: ${clip(info)}`}`);
  }
  if (start.startsWith("{") || start.startsWith("[")) {
    let detail = "";
    try {
      const j: unknown = JSON.parse(head);
      if (j !== null && typeof j === "object" && !Array.isArray(j)) {
        const o = j as Record<string, unknown>;
        const parts = [o.title, o.description, o.message, o.error, o.detail].filter(
          (p): p is string => typeof p === "string" && p.trim() !== "",
        );
        detail = parts.join(": ");
      }
    } catch {
      // Not parseable (or cut at SNIFF_BYTES): the first characters are still JSON-looking.
    }
    return fail("JSON", `body is JSON, not FITS${detail === "" ? "" : `: ${clip(detail)}`}`);
  }
  if (start.startsWith("<")) return fail("XML", "body is markup (HTML or XML), not FITS");
  const printable = buf
    .subarray(0, 40)
    .toString("latin1")
    .replace(/[^\x20-\x7e]/g, ".");
  return fail("NOT_FITS", `body does not start with SIMPLE = T, not FITS: ${JSON.stringify(printable)}`);
}

/**
 * The gate before a downloaded body is saved as .fits: SIMPLE = T first, every HDU (primary, IMAGE, BINTABLE,
 * TABLE) has END and all its data, the length is a multiple of 2880, and nothing else follows. Never throws
 * and never copies data; common non-FITS bodies get a readable message ("body is an HTML page, not FITS: ...").
 */
export function validateFits(buf: Buffer): FitsValidation {
  if (buf.length === 0) return fail("EMPTY", "body is empty (0 bytes), not FITS");
  const sniffed = sniff(buf);
  if (sniffed !== undefined) return sniffed;
  try {
    const hdus = walkHdus(buf, true);
    return { ok: true, hdus: hdus.length, bytes: buf.length };
  } catch (err) {
    if (err instanceof FitsError) return fail(err.code, err.message);
    return fail("NOT_FITS", `unreadable FITS: ${err instanceof Error ? err.message : String(err)}`);
  }
}
