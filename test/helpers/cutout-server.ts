import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { gzipSync } from "node:zlib";
import { encodeImage } from "../../src/fits/image.js";
import { parseTanWcs, tanPixelToWorld, tanWcsCards } from "../../src/wcs/tan-header.js";

/** A scripted misbehaviour for one request. */
export type Fault =
  | { kind: "status"; status: number; retryAfter?: string; body?: string; contentType?: string }
  | { kind: "reset" }
  | { kind: "truncate" }
  | { kind: "html200" }
  | { kind: "json200" }
  | { kind: "stall" }
  | { kind: "delay"; ms: number }
  /** Answer normally once `open` resolves (a test decides when, instead of a timer). */
  | { kind: "gate"; open: Promise<void> }
  /** A redirect (302 unless given) to `location` (absolute or relative). */
  | { kind: "redirect"; location: string; status?: number }
  /** A 200 body of `bytes` bytes: with a Content-Length saying so, or chunked (undeclared). */
  | { kind: "oversize"; bytes: number; declared: boolean }
  /**
   * `Content-Encoding: gzip` whatever the request said: a body that inflates to `inflatedBytes` zero
   * bytes (concatenated gzip members of 1 MiB each, so the bomb is cheap to build).
   */
  | { kind: "gzipBomb"; inflatedBytes: number };

/** One request as the server saw it. */
export interface SeenRequest {
  readonly n: number;
  readonly at: number;
  readonly url: string;
  readonly key: string;
  readonly fault?: Fault["kind"];
  readonly userAgent?: string;
  readonly acceptEncoding?: string;
}

export interface CutoutServerOptions {
  /** Decide a fault for request number n (1-based) with its parsed query; undefined = answer normally. */
  fault?: (n: number, q: URLSearchParams, key: string) => Fault | undefined;
  /** Positions (deg) with no survey coverage: answered with an all-NaN image, as hips2fits does. */
  noCoverage?: (raDeg: number, decDeg: number) => boolean;
  /** Fixed latency added to every answer, ms. */
  latencyMs?: number;
}

/**
 * The analytic sky the server "observes": a known smooth function of position (periods of 72" and 94",
 * well sampled at sub-arcsecond pixels) plus a per-band offset, so a test can check every pixel of a
 * saved cutout against the sky position its WCS gives.
 */
export function skyValue(raDeg: number, decDeg: number, band: string): number {
  const b = band.charCodeAt(0) % 7;
  return 1000 + 100 * Math.sin((raDeg * Math.PI) / 0.01) * Math.cos((decDeg * Math.PI) / 0.013) + b;
}

/** Canonical key of a hips2fits request: which product it asks for. */
export function requestKey(q: URLSearchParams): string {
  return `${q.get("hips")}|${q.get("ra")}|${q.get("dec")}`;
}

/**
 * A hips2fits-like server on 127.0.0.1 (port 0): `GET /hips2fits?hips=..&width=..&height=..&fov=..&ra=..&dec=..`
 * answers a real FITS cutout (BITPIX -32) whose pixels are skyValue() at each pixel's TAN position, with
 * the WCS hips2fits would write. Scripts faults per request and records every request. Missing or bad
 * parameters get a 400 with hips2fits's JSON error body.
 */
export class CutoutServer {
  readonly requests: SeenRequest[] = [];
  /** Requests received whose response has not finished sending (or whose connection has not closed). */
  inFlight = 0;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly options: CutoutServerOptions;
  private n = 0;
  /** whenRequests() promises not yet resolved. */
  private readonly waiting: Array<{ count: number; resolve: () => void }> = [];
  url = "";

  constructor(options: CutoutServerOptions = {}) {
    this.options = options;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.on("connection", (s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}/hips2fits`;
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  /** Resolves once the server has seen `count` requests in all (at once if it has): no polling. */
  whenRequests(count: number): Promise<void> {
    if (this.requests.length >= count) return Promise.resolve();
    return new Promise<void>((resolve) => this.waiting.push({ count, resolve }));
  }

  /** How many requests asked for each product key. */
  countsByKey(): Map<string, number> {
    const m = new Map<string, number>();
    for (const r of this.requests) m.set(r.key, (m.get(r.key) ?? 0) + 1);
    return m;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const n = ++this.n;
    this.inFlight++;
    res.on("close", () => {
      this.inFlight--;
    });
    const u = new URL(req.url ?? "/", "http://x");
    const q = u.searchParams;
    const key = requestKey(q);
    const fault = this.options.fault?.(n, q, key);
    const ua = req.headers["user-agent"];
    const ae = req.headers["accept-encoding"];
    this.requests.push({
      n,
      at: Date.now(),
      url: u.pathname + u.search,
      key,
      ...(fault ? { fault: fault.kind } : {}),
      ...(ua ? { userAgent: ua } : {}),
      ...(ae ? { acceptEncoding: ae } : {}),
    });
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      const w = this.waiting[i];
      if (w !== undefined && w.count <= this.requests.length) {
        this.waiting.splice(i, 1);
        w.resolve();
      }
    }
    const answer = (): void => this.answer(q, fault, req, res);
    const latency = this.options.latencyMs ?? 0;
    if (latency > 0) setTimeout(answer, latency);
    else answer();
  }

  private answer(
    q: URLSearchParams,
    fault: Fault | undefined,
    req: IncomingMessage,
    res: ServerResponse,
  ): void {
    if (fault?.kind === "stall") return; // never answer; the client's timeout must fire
    if (fault?.kind === "reset") {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === "status") {
      const headers: Record<string, string> = { "content-type": fault.contentType ?? "application/json" };
      if (fault.retryAfter !== undefined) headers["retry-after"] = fault.retryAfter;
      res.writeHead(fault.status, headers);
      res.end(
        fault.body ?? JSON.stringify({ title: `Error ${fault.status}`, description: "scripted failure" }),
      );
      return;
    }
    if (fault?.kind === "html200") {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(
        "<!DOCTYPE html><html><head><title>Service maintenance</title></head><body>Back soon</body></html>",
      );
      return;
    }
    if (fault?.kind === "redirect") {
      res.writeHead(fault.status ?? 302, { location: fault.location });
      res.end();
      return;
    }
    if (fault?.kind === "oversize") {
      const headers: Record<string, string> = { "content-type": "application/fits" };
      if (fault.declared) headers["content-length"] = String(fault.bytes);
      res.writeHead(200, headers);
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      let left = fault.bytes;
      // Honour backpressure, and stop as soon as the client hangs up.
      const pump = (): void => {
        while (left > 0 && !res.destroyed) {
          const n = Math.min(left, chunk.length);
          left -= n;
          if (!res.write(chunk.subarray(0, n))) {
            res.once("drain", pump);
            return;
          }
        }
        if (!res.destroyed) res.end();
      };
      pump();
      return;
    }
    if (fault?.kind === "gzipBomb") {
      const member = gzipSync(Buffer.alloc(2 ** 20));
      const parts = Math.ceil(fault.inflatedBytes / 2 ** 20);
      const body = Buffer.concat(Array.from({ length: parts }, () => member));
      res.writeHead(200, {
        "content-type": "application/fits",
        "content-encoding": "gzip",
        "content-length": String(body.length),
      });
      res.end(body);
      return;
    }
    if (fault?.kind === "json200") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ title: "Oops", description: "not an image" }));
      return;
    }
    const body = this.cutout(q);
    if (typeof body === "string") {
      res.writeHead(400, { "content-type": "application/json" });
      res.end(JSON.stringify({ title: "Bad request", description: body }));
      return;
    }
    const send = (): void => {
      if (fault?.kind === "truncate") {
        res.writeHead(200, { "content-type": "application/fits", "content-length": String(body.length) });
        res.write(body.subarray(0, Math.floor(body.length / 3)));
        setTimeout(() => req.socket.destroy(), 5);
        return;
      }
      res.writeHead(200, { "content-type": "application/fits", "content-length": String(body.length) });
      res.end(body);
    };
    if (fault?.kind === "delay") setTimeout(send, fault.ms);
    else if (fault?.kind === "gate") void fault.open.then(send);
    else send();
  }

  private cutout(q: URLSearchParams): Buffer | string {
    const hips = q.get("hips");
    const width = Number(q.get("width"));
    const height = Number(q.get("height"));
    const fov = Number(q.get("fov"));
    const ra = Number(q.get("ra"));
    const dec = Number(q.get("dec"));
    if (!hips) return "Missing parameter: hips";
    if (!(width > 0 && height > 0 && fov > 0) || !Number.isFinite(ra) || !Number.isFinite(dec)) {
      return "width, height, fov, ra and dec are required numbers";
    }
    if (q.get("format") !== "fits") return "only format=fits in this test server";
    const band = hips.split("/").pop() ?? "";
    const pixscaleArcsec = (fov * 3600) / Math.max(width, height);
    // hips2fits's grid: CRPIX = W/2, H/2 (the target on the centre of pixel W/2).
    const cards = tanWcsCards({
      raDeg: ra,
      decDeg: dec,
      widthPx: width,
      heightPx: height,
      pixscaleArcsec,
      grid: "hips2fits",
    });
    const wcs = parseTanWcs(cards);
    const data = new Float32Array(width * height);
    const blank = this.options.noCoverage?.(ra, dec) === true;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (blank) {
          data[y * width + x] = Number.NaN;
          continue;
        }
        const w = tanPixelToWorld(wcs, x + 1, y + 1);
        data[y * width + x] = skyValue(w.raDeg, w.decDeg, band);
      }
    }
    return encodeImage({
      bitpix: -32,
      shape: [width, height],
      data,
      cards: [...cards, { key: "HIPS", value: hips }],
    });
  }
}
