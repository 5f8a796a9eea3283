import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import Database from "better-sqlite3";
import { type Clock, VirtualClock } from "../../src/fetch/clock.js";
import { type UwsService, uwsService } from "./uws-service.js";

/**
 * A small archive on 127.0.0.1: a TAP service (`POST /tap/sync`, TAP 1.1, and `/tap/async`, UWS 1.1: see
 * uws-service.ts) answering ADQL with a VOTable (TABLEDATA, DALI INFO QUERY_STATUS, OVERFLOW at MAXREC).
 * The ADQL runs in SQLite over an ivoa.obscore table of the products (the subset of ADQL these tests send:
 * SELECT, WHERE, GROUP BY, COUNT, SUM, subqueries in FROM), product files under /files/, and
 * DataLink documents (DataLink 1.1 links tables) under /links, one of them reached through a 302.
 * Faults are scripted per path: "html" (an HTML page with 200), "503", "reset", "ok".
 */

/** One ObsCore row the service knows. */
export interface ArchiveProduct {
  readonly did: string;
  /** Path on this server (e.g. "/files/a.fits" or "/datalink?ID=x"), or an absolute URL. */
  readonly access: string;
  readonly format: string;
  readonly bytes?: Buffer;
  readonly ra?: number | null;
  readonly dec?: number | null;
  /** ObsCore obs_id (default: none). */
  readonly obsId?: string;
  /** obs_collection (default "HARPS"). */
  readonly collection?: string;
  /** dataproduct_type (default "spectrum"). */
  readonly type?: string;
  /** access_estsize in kB (default: the size of `bytes`, rounded up). */
  readonly estsizeKb?: number | null;
}

/** A DataLink document: the #this link (path and content type) and extra links. */
export interface DatalinkDoc {
  readonly id: string;
  readonly self?: { readonly path: string; readonly contentType: string; readonly error?: string };
  readonly extra?: ReadonlyArray<{
    readonly path: string;
    readonly semantics: string;
    readonly contentType: string;
  }>;
  /** Raw document instead (hostile cases). */
  readonly raw?: string;
}

export interface ArchiveServer {
  readonly base: string;
  readonly tap: string;
  /** Requests per path (query string included). */
  readonly hits: Map<string, number>;
  /** Successful 200 answers per path. */
  readonly served: Map<string, number>;
  /** POST bodies sent to /tap/sync, parsed. */
  readonly queries: URLSearchParams[];
  /** Faults still to play per path, first one next. */
  readonly faults: Map<string, string[]>;
  /** The async (UWS) side: jobs, counters, scripted faults. */
  readonly uws: UwsService;
  /** Every request: method, path (with query), the Host it was sent to and its Authorization header. */
  readonly auth: Array<{ method: string; path: string; host: string; authorization?: string }>;
  /** With `jobsElsewhere`: the second origin (same routes) that the async jobs' URLs point to. */
  readonly jobBase?: string;
  close(): Promise<void>;
}

export function xml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

export function votable(fields: string, rows: string[][], infos: string, after = ""): string {
  const tr = rows.map((r) => `<TR>${r.map((c) => `<TD>${xml(c)}</TD>`).join("")}</TR>`).join("\n");
  return `<?xml version="1.0" encoding="UTF-8"?>
<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">
<RESOURCE type="results">
${infos}
<TABLE>
${fields}
<DATA><TABLEDATA>
${tr}
</TABLEDATA></DATA>
</TABLE>
${after}
</RESOURCE>
</VOTABLE>
`;
}

const DATALINK_FIELDS = `<FIELD name="ID" datatype="char" arraysize="*" ucd="meta.id;meta.main"/>
<FIELD name="access_url" datatype="char" arraysize="*" ucd="meta.ref.url"/>
<FIELD name="service_def" datatype="char" arraysize="*" ucd="meta.ref"/>
<FIELD name="error_message" datatype="char" arraysize="*" ucd="meta.code.error"/>
<FIELD name="description" datatype="char" arraysize="*" ucd="meta.note"/>
<FIELD name="semantics" datatype="char" arraysize="*" ucd="meta.code"/>
<FIELD name="content_type" datatype="char" arraysize="*" ucd="meta.code.mime"/>
<FIELD name="content_length" datatype="long" unit="byte" ucd="phys.size;meta.file"/>`;

const UCD: Readonly<Record<string, string>> = {
  obs_publisher_did: "meta.ref.ivoid",
  access_url: "meta.ref.url",
  access_format: "meta.code.mime",
  access_estsize: "phys.size;meta.file",
  s_ra: "pos.eq.ra",
  s_dec: "pos.eq.dec",
};

/** The ObsCore table of the archive in SQLite, as `ivoa.obscore`. */
export function obscoreDb(base: string, products: readonly ArchiveProduct[]): Database.Database {
  const db = new Database(":memory:");
  db.exec(`ATTACH ':memory:' AS ivoa;
    CREATE TABLE ivoa.obscore (obs_publisher_did TEXT, obs_id TEXT, obs_collection TEXT, dataproduct_type TEXT,
      access_url TEXT, access_format TEXT, access_estsize INTEGER, s_ra REAL, s_dec REAL)`);
  const ins = db.prepare("INSERT INTO ivoa.obscore VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  for (const p of products) {
    ins.run(
      p.did,
      p.obsId ?? null,
      p.collection ?? "HARPS",
      p.type ?? "spectrum",
      p.access.startsWith("/") ? `${base}${p.access}` : p.access,
      p.format,
      p.estsizeKb === undefined ? Math.ceil((p.bytes?.length ?? 0) / 1024) : p.estsizeKb,
      p.ra ?? null,
      p.dec ?? null,
    );
  }
  return db;
}

/** The items of the outermost SELECT list: [expression, output name] (`expr AS name`, else the expression). */
export function selectItems(adql: string): Array<[string, string]> {
  const m = /^\s*SELECT\s+(DISTINCT\s+)?(TOP\s+\d+\s+)?/i.exec(adql);
  if (m === null) return [];
  const items: string[] = [];
  let depth = 0;
  let cur = "";
  for (let i = m[0].length; i < adql.length; i++) {
    const ch = adql[i] as string;
    if (depth === 0 && /^\sFROM\s/i.test(adql.slice(i, i + 6))) break;
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      items.push(cur);
      cur = "";
    } else cur += ch;
  }
  items.push(cur);
  return items.map((it) => {
    const as = /^(.*?)\s+AS\s+(\w+)\s*$/is.exec(it.trim());
    return as === null ? [it.trim(), it.trim()] : [(as[1] as string).trim(), as[2] as string];
  });
}

/**
 * What DaCHS 2.7 fails to serialise, as seen on a real DaCHS service (scripts/dachs-check.sh), with its
 * words. It types SUM(x) as x's type, but PostgreSQL answers a numeric for the sum of a bigint
 * (access_estsize) or of COUNT(*), and the VOTable writer refuses it; and it gives COUNT(x) the product
 * display hint of access_url, so the count is formatted as a link. SQLite's typeof() tells an integer
 * sum (DaCHS's failure) from a sum of `1.0 * x` (a double).
 */
function dachsSerialisationError(
  db: Database.Database,
  adql: string,
  cols: readonly string[],
  first: readonly unknown[] | undefined,
): string | undefined {
  const items = selectItems(adql);
  if (items.length !== cols.length) return undefined;
  for (const [i, [expr, name]] of items.entries()) {
    if (/COUNT\s*\((DISTINCT\s+)?[\w.]*access_url/i.test(expr))
      return "'int' object has no attribute 'rfind'";
    if (/^SUM\s*\(/i.test(expr) && first !== undefined && first[i] !== null) {
      const t = db.prepare(`SELECT typeof("${name}") FROM (${adql}) LIMIT 1`).pluck().get();
      if (t === "integer")
        return `Field '${name}', value '${String(first[i])}.0': required argument is not an integer`;
    }
  }
  return undefined;
}

/** An error document as DaCHS writes it (a stylesheet PI, no XML declaration). */
function dachsErrorDoc(error: string): string {
  return `<?xml-stylesheet href='/static/xsl/dalierror-to-html.xsl' type='text/xsl'?><VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE type="results"><INFO name="QUERY_STATUS" value="ERROR">${xml(error)}</INFO></RESOURCE></VOTABLE>`;
}

/**
 * Run ADQL in SQLite: the result VOTable (OVERFLOW past MAXREC), or an error VOTable with `error` (and
 * `status` 200 where DaCHS answers a failed serialisation with 200 and text/xml).
 */
export function runAdql(
  db: Database.Database,
  adql: string,
  maxrec?: number,
): { doc: string; error?: string; status?: number } {
  let cols: string[];
  let rows: unknown[][];
  try {
    const stmt = db.prepare(adql).raw(true);
    cols = stmt.columns().map((c) => c.name);
    rows = stmt.all() as unknown[][];
  } catch (e) {
    const error = `${(e as Error).message} in: ${adql.slice(0, 80)}`;
    const info = `<INFO name="QUERY_STATUS" value="ERROR">${xml(error)}</INFO>`;
    return { doc: votable('<FIELD name="x" datatype="int"/>', [], info), error };
  }
  const dachs = dachsSerialisationError(db, adql, cols, rows[0]);
  if (dachs !== undefined) return { doc: dachsErrorDoc(dachs), error: dachs, status: 200 };
  const fields = cols
    .map((name, i) => {
      const vals = rows.map((r) => r[i]).filter((v) => v !== null);
      const type = vals.every((v) => typeof v === "number" && Number.isInteger(v))
        ? vals.length > 0
          ? "long"
          : "char"
        : vals.every((v) => typeof v === "number")
          ? "double"
          : "char";
      const ucd = UCD[name] === undefined ? "" : ` ucd="${UCD[name]}"`;
      return `<FIELD name="${xml(name)}" datatype="${type}"${type === "char" ? ' arraysize="*"' : ""}${ucd}/>`;
    })
    .join("\n");
  const kept = rows.slice(0, maxrec ?? rows.length);
  const overflow = maxrec !== undefined && maxrec < rows.length;
  return {
    doc: votable(
      fields,
      kept.map((r) => r.map((v) => (v === null ? "" : String(v)))),
      '<INFO name="QUERY_STATUS" value="OK"/>',
      overflow ? '<INFO name="QUERY_STATUS" value="OVERFLOW"/>' : "",
    ),
  };
}

function datalinkVotable(base: string, d: DatalinkDoc, files: Map<string, Buffer>): string {
  const rows: string[][] = [];
  if (d.self !== undefined) {
    rows.push([
      d.id,
      d.self.error === undefined ? `${base}${d.self.path}` : "",
      "",
      d.self.error ?? "",
      "the data",
      "#this",
      d.self.contentType,
      String(files.get(d.self.path)?.length ?? ""),
    ]);
  }
  for (const e of d.extra ?? []) {
    rows.push([d.id, `${base}${e.path}`, "", "", "extra", e.semantics, e.contentType, ""]);
  }
  return votable(DATALINK_FIELDS, rows, "");
}

/**
 * Start the archive. `files` maps paths to bytes (served with `types[path]` or application/octet-stream);
 * `datalinks` maps DataLink IDs to documents: /datalink?ID=x redirects (302) to /links?ID=x.
 */
export async function startArchive(opts: {
  products: readonly ArchiveProduct[];
  files: Map<string, Buffer>;
  types?: Map<string, string>;
  datalinks?: readonly DatalinkDoc[];
  /** The server's time for async jobs (WAIT, job durations); default a clock nobody advances. */
  clock?: Clock;
  /** How long an async job executes on `clock`, ms; undefined: until uws.complete() is called. */
  jobMs?: number;
  /** UWS misbehaviour to script (uws-service.ts). */
  ignoreWait?: boolean;
  ignoreRunOnCreate?: boolean;
  /**
   * Answer job creations with a Location on a second origin (another port, same routes), as a DaCHS
   * whose serverURL names another host than the one asked does.
   */
  jobsElsewhere?: boolean;
}): Promise<ArchiveServer> {
  const hits = new Map<string, number>();
  const served = new Map<string, number>();
  const faults = new Map<string, string[]>();
  const queries: URLSearchParams[] = [];
  let base = "";
  let jobBase: string | undefined;
  const auth: ArchiveServer["auth"] = [];
  let db: Database.Database | undefined;
  const adql = (q: string, maxrec?: number) => {
    db ??= obscoreDb(base, opts.products);
    return runAdql(db, q, maxrec);
  };
  const uws = uwsService({
    clock: opts.clock ?? new VirtualClock(),
    ...(opts.jobMs === undefined ? {} : { jobMs: opts.jobMs }),
    ...(opts.ignoreWait === undefined ? {} : { ignoreWait: opts.ignoreWait }),
    ...(opts.ignoreRunOnCreate === undefined ? {} : { ignoreRunOnCreate: opts.ignoreRunOnCreate }),
    run: adql,
    base: () => jobBase ?? base,
  });
  const count = (m: Map<string, number>, k: string): void => {
    m.set(k, (m.get(k) ?? 0) + 1);
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", base);
    const key = url.pathname + url.search;
    const a = req.headers.authorization;
    auth.push({
      method: req.method ?? "",
      path: key,
      host: req.headers.host ?? "",
      ...(a === undefined ? {} : { authorization: a }),
    });
    count(hits, key);
    const fault = faults.get(key)?.shift();
    if (fault === "503") {
      res.writeHead(503, { "retry-after": "0", "content-type": "text/plain" }).end("busy");
      return;
    }
    if (fault === "html") {
      res
        .writeHead(200, { "content-type": "text/html" })
        .end("<!DOCTYPE html><html><title>Maintenance</title></html>");
      return;
    }
    if (fault === "reset") {
      req.socket.destroy();
      return;
    }
    if (url.pathname === "/tap/sync" && req.method === "POST") {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
      queries.push(form);
      const maxrec = form.has("MAXREC") ? Number(form.get("MAXREC")) : undefined;
      const r = form.get("LANG") === "ADQL" ? adql(form.get("QUERY") ?? "", maxrec) : adql("no ADQL");
      res.writeHead(r.status ?? (r.error === undefined ? 200 : 400), {
        "content-type": r.status === undefined ? "application/x-votable+xml" : "text/xml",
      });
      res.end(r.doc);
      if (r.error === undefined) count(served, key);
      return;
    }
    if (await uws.handle(req, res, url)) return;
    if (url.pathname === "/datalink") {
      res
        .writeHead(302, { location: `/links?ID=${encodeURIComponent(url.searchParams.get("ID") ?? "")}` })
        .end();
      return;
    }
    if (url.pathname === "/links") {
      const d = opts.datalinks?.find((x) => x.id === url.searchParams.get("ID"));
      if (d === undefined) {
        res.writeHead(404).end("no such ID");
        return;
      }
      res.writeHead(200, { "content-type": "application/x-votable+xml;content=datalink" });
      res.end(d.raw ?? datalinkVotable(base, d, opts.files));
      count(served, key);
      return;
    }
    const body = opts.files.get(url.pathname);
    if (body === undefined) {
      res.writeHead(404, { "content-type": "text/plain" }).end("Not Found");
      return;
    }
    res.writeHead(200, {
      "content-type": opts.types?.get(url.pathname) ?? "application/octet-stream",
      "content-length": String(body.length),
    });
    res.end(body);
    count(served, key);
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      res.writeHead(500).end(String(e));
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let second: Server | undefined;
  if (opts.jobsElsewhere === true) {
    second = createServer((req, res) => {
      handle(req, res).catch((e: unknown) => {
        res.writeHead(500).end(String(e));
      });
    });
    second.listen(0, "127.0.0.1");
    await once(second, "listening");
    jobBase = `http://127.0.0.1:${(second.address() as AddressInfo).port}`;
  }
  return {
    base,
    tap: `${base}/tap`,
    hits,
    served,
    queries,
    faults,
    uws,
    auth,
    ...(jobBase === undefined ? {} : { jobBase }),
    close: async () => {
      uws.release();
      db?.close();
      for (const s of [server, second]) {
        if (s === undefined) continue;
        s.closeAllConnections();
        await new Promise<void>((r) => s.close(() => r()));
      }
    },
  };
}
