import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * An archive on 127.0.0.1 that wants a bearer token and serves products with byte ranges: the files are
 * under /files/NAME (401 without the token, 403 with a wrong one), `Accept-Ranges: bytes` with an ETag,
 * `Range: bytes=N-` answered 206, If-Range honoured. A product can be cut once: its first whole answer
 * stops after a fraction of the bytes (the socket destroyed). /moved/NAME redirects (302) to the same file
 * on another host: the same archive listening on 127.0.0.2 (another port). POST /tap/sync answers any query with
 * an ObsCore table of the products (also behind the token). Bodies may be generated on the fly (1 GB
 * products for the memory bench): nothing holds a whole product unless it was given as a Buffer.
 */

/** A product: its bytes, or its size and a generator of any slice. */
export interface ServedProduct {
  readonly size: number;
  slice(start: number, end: number): Buffer;
}

export function bufferProduct(bytes: Buffer): ServedProduct {
  return { size: bytes.length, slice: (s, e) => bytes.subarray(s, e) };
}

export interface ProductServer {
  /** http://127.0.0.1:PORT */
  readonly base: string;
  /** The same archive on another host: http://127.0.0.2:PORT2 */
  readonly otherHost: string;
  /** Body bytes sent per file path (cut answers included). */
  readonly bytesSent: Map<string, number>;
  /** Every request: its path, Host header, Authorization header and Range header. */
  readonly requests: Array<{ path: string; host: string; authorization?: string; range?: string }>;
  /** Paths whose next whole answer is cut after this fraction of the body. */
  readonly cuts: Map<string, number>;
  /** Paths whose next whole answer stops after this fraction and then hangs (a client to kill). */
  readonly holds: Map<string, number>;
  /** Paths whose answers wait at each byte fraction `at` until its `until` resolves, then go on. */
  readonly pauses: Map<string, ReadonlyArray<{ readonly at: number; readonly until: Promise<void> }>>;
  close(): Promise<void>;
}

function votable(base: string, names: readonly string[]): string {
  const rows = names
    .map(
      (n) =>
        `<TR><TD>ivo://archive.test/ID?${n}</TD><TD>${base}/files/${n}</TD><TD>application/fits</TD></TR>`,
    )
    .join("\n");
  return `<?xml version="1.0" encoding="UTF-8"?>
<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">
<RESOURCE type="results"><INFO name="QUERY_STATUS" value="OK"/>
<TABLE>
<FIELD name="obs_publisher_did" datatype="char" arraysize="*" ucd="meta.ref.ivoid"/>
<FIELD name="access_url" datatype="char" arraysize="*" ucd="meta.ref.url"/>
<FIELD name="access_format" datatype="char" arraysize="*" ucd="meta.code.mime"/>
<DATA><TABLEDATA>
${rows}
</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>
`;
}

const CHUNK = 1 << 20;

export async function startProductServer(opts: {
  readonly products: ReadonlyMap<string, ServedProduct>;
  /** The bearer token the files and the TAP service want; undefined = open. */
  readonly token?: string;
  /** Basic credentials taken instead of the token. */
  readonly basic?: { readonly login: string; readonly password: string };
  /** Offer ranges (default true). */
  readonly ranges?: boolean;
  /**
   * A broken range answer: "mismatch" answers a Range request with a 206 from the wrong byte; "changed"
   * gives every answer a new ETag (the product changed), so If-Range fails and the answer is a 200.
   */
  readonly rangeFault?: "mismatch" | "changed";
}): Promise<ProductServer> {
  const bytesSent = new Map<string, number>();
  const requests: ProductServer["requests"] = [];
  const cuts = new Map<string, number>();
  const holds = new Map<string, number>();
  const pauses = new Map<string, ReadonlyArray<{ at: number; until: Promise<void> }>>();
  let answers = 0;
  let base = "";
  let otherHost = "";
  const ranges = opts.ranges ?? true;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", base);
    const auth = req.headers.authorization;
    requests.push({
      path: url.pathname,
      host: req.headers.host ?? "",
      ...(auth === undefined ? {} : { authorization: auth }),
      ...(req.headers.range === undefined ? {} : { range: req.headers.range }),
    });
    if (url.pathname.startsWith("/moved/")) {
      res.writeHead(302, { location: `${otherHost}/files/${url.pathname.slice(7)}` }).end();
      return;
    }
    const basic =
      opts.basic === undefined
        ? undefined
        : `Basic ${Buffer.from(`${opts.basic.login}:${opts.basic.password}`).toString("base64")}`;
    const wanted = opts.token !== undefined || basic !== undefined;
    const accepted =
      auth !== undefined && ((opts.token !== undefined && auth === `Bearer ${opts.token}`) || auth === basic);
    if (wanted && !accepted) {
      const status = auth === undefined ? 401 : 403;
      res
        .writeHead(status, { "content-type": "text/plain", "www-authenticate": 'Bearer realm="archive"' })
        .end(status === 401 ? "Unauthorized" : "Forbidden");
      return;
    }
    if (url.pathname === "/tap/sync" && req.method === "POST") {
      for await (const _ of req) {
        // the query itself does not matter here
      }
      res.writeHead(200, { "content-type": "application/x-votable+xml" });
      res.end(votable(base, [...opts.products.keys()]));
      return;
    }
    const name = url.pathname.startsWith("/files/") ? url.pathname.slice(7) : "";
    const p = opts.products.get(name);
    if (p === undefined) {
      res.writeHead(404, { "content-type": "text/plain" }).end("Not Found");
      return;
    }
    const etag = opts.rangeFault === "changed" ? `"v${++answers}-${p.size}"` : `"v1-${p.size}"`;
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    const ifRange = req.headers["if-range"];
    if (ranges && m !== null && (ifRange === undefined || ifRange === etag)) start = Number(m[1]);
    if (start >= p.size && start > 0) {
      res.writeHead(416, { "content-range": `bytes */${p.size}` }).end();
      return;
    }
    const headers: Record<string, string> = {
      "content-type": "application/fits",
      "content-length": String(p.size - start),
      etag,
    };
    if (ranges) headers["accept-ranges"] = "bytes";
    // "mismatch": a 206 that claims to start 2880 bytes early (its body does too).
    if (start > 0 && opts.rangeFault === "mismatch") start = Math.max(1, start - 2880);
    if (start > 0) headers["content-range"] = `bytes ${start}-${p.size - 1}/${p.size}`;
    headers["content-length"] = String(p.size - start);
    res.writeHead(start > 0 ? 206 : 200, headers);
    const hold = start === 0 ? holds.get(url.pathname) : undefined;
    if (hold !== undefined) holds.delete(url.pathname);
    const cut = start === 0 ? (hold ?? cuts.get(url.pathname)) : undefined;
    if (cut !== undefined) cuts.delete(url.pathname);
    const end = cut === undefined ? p.size : Math.floor(p.size * cut);
    const stops = (pauses.get(url.pathname) ?? []).map((x) => ({
      at: Math.floor(p.size * x.at),
      until: x.until,
    }));
    for (let pos = start; pos < end; ) {
      const stop = stops.find((x) => x.at > pos);
      const chunk = p.slice(
        pos,
        Math.min(end, stop === undefined ? pos + CHUNK : Math.min(stop.at, pos + CHUNK)),
      );
      pos += chunk.length;
      bytesSent.set(url.pathname, (bytesSent.get(url.pathname) ?? 0) + chunk.length);
      if (!res.write(chunk)) await once(res, "drain");
      if (res.destroyed) return;
      if (stop !== undefined && pos === stop.at) await stop.until;
    }
    if (hold !== undefined) return; // the answer never ends
    if (cut !== undefined) {
      // Let the bytes leave, then drop the connection mid-body.
      await new Promise<void>((r) => res.write(Buffer.alloc(0), () => r()));
      req.socket.destroy();
      return;
    }
    res.end();
  };
  const listen = async (host: string): Promise<Server> => {
    const server = createServer((req, res) => {
      handle(req, res).catch(() => req.socket.destroy());
    });
    server.listen(0, host);
    await once(server, "listening");
    return server;
  };
  const servers = [await listen("127.0.0.1"), await listen("127.0.0.2")];
  const port = (s: Server | undefined): number => (s?.address() as AddressInfo | undefined)?.port ?? 0;
  base = `http://127.0.0.1:${port(servers[0])}`;
  otherHost = `http://127.0.0.2:${port(servers[1])}`;
  return {
    base,
    otherHost,
    bytesSent,
    requests,
    cuts,
    holds,
    pauses,
    close: async () => {
      for (const server of servers) {
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
      }
    },
  };
}
