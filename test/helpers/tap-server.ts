import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A small archive on 127.0.0.1: a TAP service (`POST /tap/sync`, TAP 1.1) answering ADQL with an ObsCore
 * VOTable (TABLEDATA, DALI INFO QUERY_STATUS, OVERFLOW at MAXREC), product files under /files/, and
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
  close(): Promise<void>;
}

function xml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function votable(fields: string, rows: string[][], infos: string, after = ""): string {
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

const OBSCORE_FIELDS = `<FIELD name="obs_publisher_did" datatype="char" arraysize="*" ucd="meta.ref.ivoid" utype="obscore:Curation.PublisherDID"/>
<FIELD name="dataproduct_type" datatype="char" arraysize="*" ucd="meta.id"/>
<FIELD name="access_url" datatype="char" arraysize="*" ucd="meta.ref.url" utype="obscore:Access.Reference"/>
<FIELD name="access_format" datatype="char" arraysize="*" ucd="meta.code.mime" utype="obscore:Access.Format"/>
<FIELD name="access_estsize" datatype="long" unit="kbyte" ucd="phys.size;meta.file"/>
<FIELD name="s_ra" datatype="double" unit="deg" ucd="pos.eq.ra"/>
<FIELD name="s_dec" datatype="double" unit="deg" ucd="pos.eq.dec"/>`;

const DATALINK_FIELDS = `<FIELD name="ID" datatype="char" arraysize="*" ucd="meta.id;meta.main"/>
<FIELD name="access_url" datatype="char" arraysize="*" ucd="meta.ref.url"/>
<FIELD name="service_def" datatype="char" arraysize="*" ucd="meta.ref"/>
<FIELD name="error_message" datatype="char" arraysize="*" ucd="meta.code.error"/>
<FIELD name="description" datatype="char" arraysize="*" ucd="meta.note"/>
<FIELD name="semantics" datatype="char" arraysize="*" ucd="meta.code"/>
<FIELD name="content_type" datatype="char" arraysize="*" ucd="meta.code.mime"/>
<FIELD name="content_length" datatype="long" unit="byte" ucd="phys.size;meta.file"/>`;

/** The ObsCore result document for these products (MAXREC cuts it and adds OVERFLOW). */
export function obscoreVotable(base: string, products: readonly ArchiveProduct[], maxrec?: number): string {
  const rows = products
    .slice(0, maxrec ?? products.length)
    .map((p) => [
      p.did,
      "spectrum",
      p.access.startsWith("/") ? `${base}${p.access}` : p.access,
      p.format,
      String(Math.ceil((p.bytes?.length ?? 0) / 1024)),
      p.ra === null || p.ra === undefined ? "" : String(p.ra),
      p.dec === null || p.dec === undefined ? "" : String(p.dec),
    ]);
  const overflow = maxrec !== undefined && maxrec < products.length;
  return votable(
    OBSCORE_FIELDS,
    rows,
    '<INFO name="QUERY_STATUS" value="OK"/>',
    overflow ? '<INFO name="QUERY_STATUS" value="OVERFLOW"/>' : "",
  );
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
}): Promise<ArchiveServer> {
  const hits = new Map<string, number>();
  const served = new Map<string, number>();
  const faults = new Map<string, string[]>();
  const queries: URLSearchParams[] = [];
  let base = "";
  const count = (m: Map<string, number>, k: string): void => {
    m.set(k, (m.get(k) ?? 0) + 1);
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", base);
    const key = url.pathname + url.search;
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
      const q = form.get("QUERY") ?? "";
      if (form.get("LANG") !== "ADQL" || !/from\s+ivoa\.obscore/i.test(q)) {
        res.writeHead(400, { "content-type": "application/x-votable+xml" });
        res.end(
          votable(
            '<FIELD name="x" datatype="int"/>',
            [],
            `<INFO name="QUERY_STATUS" value="ERROR">Unknown table in: ${xml(q.slice(0, 80))}</INFO>`,
          ),
        );
        return;
      }
      const maxrec = form.has("MAXREC") ? Number(form.get("MAXREC")) : undefined;
      res.writeHead(200, { "content-type": "application/x-votable+xml" });
      res.end(obscoreVotable(base, opts.products, maxrec));
      count(served, key);
      return;
    }
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
  return {
    base,
    tap: `${base}/tap`,
    hits,
    served,
    queries,
    faults,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
