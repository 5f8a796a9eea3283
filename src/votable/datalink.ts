import { SaxesParser } from "saxes";
import { parseVotable, VotableError } from "./votable.js";

/**
 * DataLink 1.1 documents: the links table (ID, access_url, service_def, error_message, semantics,
 * content_type) and the service descriptors (`RESOURCE type="meta" utype="adhoc:service"`) that
 * `service_def` points at, e.g. a SODA cutout service with its accessURL and input parameters. DataLink
 * documents are small: they are read whole, with the VOTable reader's protections (no DOCTYPE, bounded
 * text).
 */

/** One row of a links table. */
export interface DatalinkLink {
  readonly id: string;
  readonly accessUrl: string;
  readonly serviceDef: string;
  readonly errorMessage: string;
  readonly semantics: string;
  readonly contentType: string;
  /** Every cell by FIELD ID (for input parameters given by `ref`). */
  readonly byFieldId: ReadonlyMap<string, string>;
}

/** A service descriptor: where to send requests and which parameters it takes. */
export interface ServiceDescriptor {
  readonly id: string;
  readonly standardId: string;
  readonly accessUrl: string;
  /** Input parameters: fixed value, or `ref` = the ID of a links-table FIELD whose cell gives it. */
  readonly inputs: ReadonlyArray<{ readonly name: string; readonly value: string; readonly ref: string }>;
}

export interface DatalinkDocument {
  readonly links: readonly DatalinkLink[];
  readonly services: readonly ServiceDescriptor[];
}

/** A DataLink document that cannot be used; `permanent` when asking again will not help. */
export class DatalinkError extends Error {
  readonly code: "BAD_DATALINK" | "NOT_DATALINK";
  constructor(code: "BAD_DATALINK" | "NOT_DATALINK", message: string) {
    super(message);
    this.name = "DatalinkError";
    this.code = code;
  }
}

const MAX_LINKS = 10_000;
const MAX_TEXT = 256 * 1024;

function cell(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (Array.isArray(v)) return v.map(String).join(" ").trim();
  return String(v).trim();
}

/** Read a DataLink document. Throws DatalinkError (NOT_DATALINK for an HTML page or other non-VOTable). */
export async function parseDatalink(body: Buffer): Promise<DatalinkDocument> {
  const head = body.subarray(0, 512).toString("utf8").trimStart().toLowerCase();
  if (head.startsWith("<!doctype html") || head.startsWith("<html")) {
    throw new DatalinkError("NOT_DATALINK", "an HTML page, not a DataLink document");
  }
  const links: DatalinkLink[] = [];
  try {
    const table = await parseVotable(body, { maxTextChars: MAX_TEXT });
    const f = table.fields;
    const col = (name: string): number => f.findIndex((x) => x.name.toLowerCase() === name);
    const cUrl = col("access_url");
    const cSem = col("semantics");
    if (cUrl < 0 || cSem < 0) {
      throw new DatalinkError("BAD_DATALINK", "DataLink document without access_url and semantics columns");
    }
    const cId = col("id");
    const cDef = col("service_def");
    const cErr = col("error_message");
    const cType = col("content_type");
    const at = (v: unknown[], i: number): string => (i < 0 ? "" : cell(v[i]));
    for await (const r of table.rows) {
      const byFieldId = new Map<string, string>();
      f.forEach((x, i) => {
        if (x.id !== undefined) byFieldId.set(x.id, cell(r.values[i]));
      });
      links.push({
        id: at(r.values, cId),
        accessUrl: at(r.values, cUrl),
        serviceDef: at(r.values, cDef),
        errorMessage: at(r.values, cErr),
        semantics: at(r.values, cSem),
        contentType: at(r.values, cType),
        byFieldId,
      });
      if (links.length >= MAX_LINKS) break;
    }
  } catch (e) {
    if (e instanceof DatalinkError) throw e;
    if (e instanceof VotableError) throw new DatalinkError("BAD_DATALINK", `DataLink document: ${e.message}`);
    throw e;
  }
  return { links, services: serviceDescriptors(body.toString("utf8")) };
}

/** Collect `RESOURCE type="meta"` service descriptors with their PARAMs (a second, tiny SAX pass). */
function serviceDescriptors(xml: string): ServiceDescriptor[] {
  const out: ServiceDescriptor[] = [];
  const parser = new SaxesParser({ xmlns: false, position: false });
  interface Open {
    id: string;
    standardId: string;
    accessUrl: string;
    inputs: Array<{ name: string; value: string; ref: string }>;
  }
  const stack: Array<{ name: string; meta?: Open; inputs?: boolean }> = [];
  const local = (n: string): string => n.slice(n.indexOf(":") + 1);
  const current = (): Open | undefined => {
    for (let i = stack.length - 1; i >= 0; i--) {
      const m = stack[i]?.meta;
      if (m !== undefined) return m;
    }
    return undefined;
  };
  parser.on("opentag", (t) => {
    const name = local(t.name);
    const a = t.attributes as Record<string, string>;
    if (name === "RESOURCE" && a.type === "meta") {
      stack.push({ name, meta: { id: a.ID ?? "", standardId: "", accessUrl: "", inputs: [] } });
      return;
    }
    if (name === "GROUP") {
      stack.push({ name, inputs: a.name === "inputParams" });
      return;
    }
    if (name === "PARAM") {
      const m = current();
      const inInputs = stack.some((s) => s.inputs === true);
      if (m !== undefined) {
        if (inInputs) m.inputs.push({ name: a.name ?? "", value: a.value ?? "", ref: a.ref ?? "" });
        else if (a.name === "accessURL") m.accessUrl = a.value ?? "";
        else if (a.name === "standardID") m.standardId = a.value ?? "";
      }
    }
    // saxes reports a closetag for self-closing tags too: one entry per opening tag keeps them paired.
    stack.push({ name });
  });
  parser.on("closetag", (t) => {
    const top = stack.pop();
    if (top?.meta !== undefined && local(t.name) === "RESOURCE") out.push(top.meta);
  });
  parser.on("doctype", () => {
    throw new DatalinkError("BAD_DATALINK", "DataLink document with a DOCTYPE (refused)");
  });
  try {
    parser.write(xml).close();
  } catch (e) {
    if (e instanceof DatalinkError) throw e;
    throw new DatalinkError("BAD_DATALINK", `DataLink document: ${(e as Error).message}`);
  }
  return out;
}

/**
 * The SODA cutout request for a link: the `#cutout` link's service (SODA sync), with its fixed and
 * referenced input parameters (ID), plus `extra` (CIRCLE). Undefined when the document offers none.
 */
export function sodaRequest(
  doc: DatalinkDocument,
  extra: Readonly<Record<string, string>>,
): { url: string; id: string } | undefined {
  for (const link of doc.links) {
    if (link.semantics !== "#cutout" || link.serviceDef === "" || link.errorMessage !== "") continue;
    const svc = doc.services.find((s) => s.id === link.serviceDef);
    if (svc === undefined || !/^https?:\/\//.test(svc.accessUrl)) continue;
    const params = new URLSearchParams();
    for (const p of svc.inputs) {
      const v = p.value !== "" ? p.value : p.ref !== "" ? (link.byFieldId.get(p.ref) ?? "") : "";
      // Parameters without a value (CIRCLE, POS, BAND, ...) are the caller's to fill or leave out.
      if (v !== "" && !(p.name in extra)) params.append(p.name, v);
    }
    if (!params.has("ID") && link.id !== "") params.append("ID", link.id);
    for (const [k, v] of Object.entries(extra)) params.append(k, v);
    const u = new URL(svc.accessUrl);
    for (const [k, v] of params) u.searchParams.append(k, v);
    return { url: u.href, id: params.get("ID") ?? "" };
  }
  return undefined;
}

/** The `#this` link (the whole product), if usable; or the reason there is none. */
export function thisLink(
  doc: DatalinkDocument,
):
  | { readonly url: string; readonly contentType: string }
  | { readonly code: "DATALINK_ERROR" | "DATALINK_NO_THIS"; readonly error: string } {
  const own = doc.links.filter((l) => l.semantics === "#this");
  const ok = own.find((l) => l.accessUrl !== "" && l.errorMessage === "");
  if (ok !== undefined) return { url: ok.accessUrl, contentType: ok.contentType };
  const err = own.find((l) => l.errorMessage !== "")?.errorMessage;
  if (err !== undefined) return { code: "DATALINK_ERROR", error: `DataLink #this: ${err}` };
  const offered = [...new Set(doc.links.map((l) => l.semantics))].slice(0, 8).join(", ");
  return {
    code: "DATALINK_NO_THIS",
    error: `DataLink document has no #this link to the product (links: ${offered || "none"})`,
  };
}
