import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

/** One request a file server answered. */
export interface FileRequest {
  readonly path: string;
  readonly query: URLSearchParams;
  readonly status: number;
}

/** What a route answers instead of the file: bytes (no Content-Type), or bytes with a Content-Type. */
export type RouteAnswer = Buffer | { body: Buffer; contentType: string };

/**
 * A static server on 127.0.0.1 (port 0) over the folder `root` (a HiPS under fixtures/hips, say): GET
 * /a/b answers root/a/b, or 404. `route` may answer a path first (an HTML page where a tile should be, a
 * MocServer query). Every request is pushed on `seen` with its status. `close()` drops open connections.
 */
export async function serveFiles(
  root: string,
  seen: FileRequest[],
  route?: (path: string, query: URLSearchParams) => RouteAnswer | undefined,
): Promise<{ server: Server; base: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    const path = decodeURIComponent(u.pathname);
    let answer = route?.(path, u.searchParams);
    if (answer === undefined) {
      try {
        answer = readFileSync(join(root, path));
      } catch {
        answer = undefined;
      }
    }
    const status = answer === undefined ? 404 : 200;
    seen.push({ path, query: u.searchParams, status });
    const body =
      answer === undefined ? Buffer.from("not found") : Buffer.isBuffer(answer) ? answer : answer.body;
    const type =
      answer !== undefined && !Buffer.isBuffer(answer) ? { "content-type": answer.contentType } : {};
    res.writeHead(status, { "content-length": body.length, ...type });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    server,
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
