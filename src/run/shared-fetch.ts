import { createHash } from "node:crypto";
import { unlinkSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Clock } from "../fetch/clock.js";
import { authProblem } from "../fetch/credentials.js";
import { failureEvent, type HostPacer } from "../fetch/host-pacer.js";
import { FetchError, type HttpClient } from "../fetch/http-client.js";
import { backoffMs, classifyError, classifyStatus, parseRetryAfter } from "../fetch/retry-policy.js";
import { validateFits } from "../fits/validate.js";
import type { Ledger } from "../ledger/ledger.js";
import type { AtomicWriter } from "../output/write-atomic.js";
import type { DirectGet, SharedGet } from "../sources/source.js";

/** Folder under OUT where shared fetches (HiPS tiles) are cached, named by the SHA-256 of their URL. */
export const SHARED_CACHE_DIR = ".vocut-cache";

/** Retry settings of shared fetches (the same knobs as tasks). */
export interface SharedFetchOptions {
  readonly retries: number;
  readonly backoffBaseMs: number;
  readonly backoffCapMs: number;
  readonly random?: () => number;
  /**
   * Most bytes kept in OUT/.vocut-cache (--cache-gb); beyond it the least recently used files are deleted
   * and forgotten (asked again if a later task needs them). Undefined: no bound.
   */
  readonly cacheLimitBytes?: number;
}

/**
 * Fetches resources shared by many tasks at most once per job, even across restarts: each is recorded
 * in the ledger (done with its cache file and SHA-256, or missing for a 404), cached on disk under
 * OUT/.vocut-cache, verified when read back, and concurrent asks for the same URL share one request.
 * Requests go through the same per-host pacer as tasks.
 */
export class SharedFetcher {
  /** HTTP requests sent (for benchmarks: should equal the number of distinct resources). */
  requests = 0;
  /** Resources found in the folder's cache without a record in this ledger (fetched by another shard). */
  adopted = 0;
  /** Cache files deleted to stay under the limit. */
  evicted = 0;
  private readonly inFlight = new Map<string, Promise<Buffer | null>>();
  private readonly cacheDir: string;
  /** Files in the cache, least recently used first (only with a limit). */
  private readonly onDisk = new Map<string, { path: string; bytes: number }>();
  private cacheBytes = 0;

  constructor(
    private readonly ledger: Ledger,
    private readonly client: HttpClient,
    private readonly pacer: HostPacer,
    private readonly clock: Clock,
    private readonly writer: AtomicWriter,
    outDir: string,
    private readonly options: SharedFetchOptions,
  ) {
    this.cacheDir = join(outDir, SHARED_CACHE_DIR);
    if (options.cacheLimitBytes !== undefined) {
      for (const e of ledger.sharedOnDisk()) {
        this.onDisk.set(e.key, { path: e.path, bytes: e.bytes });
        this.cacheBytes += e.bytes;
      }
      this.evict(undefined);
    }
  }

  /** Mark a cache file as just used (and count it when new), then keep the cache under its limit. */
  private touch(key: string, path: string, bytes: number): void {
    if (this.options.cacheLimitBytes === undefined) return;
    const old = this.onDisk.get(key);
    if (old !== undefined) this.onDisk.delete(key);
    else this.cacheBytes += bytes;
    this.onDisk.set(key, { path, bytes });
    this.evict(key);
  }

  private evict(keep: string | undefined): void {
    const limit = this.options.cacheLimitBytes;
    if (limit === undefined) return;
    for (const [key, e] of this.onDisk) {
      if (this.cacheBytes <= limit) break;
      if (key === keep) continue;
      try {
        unlinkSync(e.path);
      } catch {
        // already gone: forget it all the same
      }
      this.ledger.deleteShared(key);
      this.onDisk.delete(key);
      this.cacheBytes -= e.bytes;
      this.evicted++;
    }
  }

  /** The SharedGet function sources use. */
  readonly get: SharedGet = (url, signal, options = {}) => {
    let p = this.inFlight.get(url);
    if (p === undefined) {
      p = this.load(url, signal, options.fits !== false, options.accept).finally(() =>
        this.inFlight.delete(url),
      );
      this.inFlight.set(url, p);
    }
    return p;
  };

  /** The DirectGet function sources use: one paced request, its host's health reported, nothing kept. */
  readonly direct: DirectGet = async (url, signal) => {
    const host = new URL(url).host;
    try {
      const res = await this.pacer.schedule(
        host,
        () => {
          this.requests++;
          return this.client.get(url, { signal });
        },
        signal,
      );
      const cls = res.status >= 200 && res.status < 300 ? "permanent" : classifyStatus(res.status);
      if (cls === "retryable") {
        const retryAfterMs = parseRetryAfter(res.headers["retry-after"], this.clock.now());
        this.pacer.report(host, failureEvent(res.status, undefined), retryAfterMs);
      } else {
        this.pacer.report(host, "success");
      }
      return res;
    } catch (err) {
      if (!signal.aborted) this.pacer.report(host, failureEvent(undefined, classifyError(err).code));
      throw err;
    }
  };

  private async load(
    url: string,
    signal: AbortSignal,
    fits: boolean,
    accept: ((body: Buffer) => string | undefined) | undefined,
  ): Promise<Buffer | null> {
    const known = this.ledger.getShared(url);
    if (known?.state === "missing") return null;
    if (known?.state === "done" && known.path) {
      try {
        const buf = await readFile(known.path);
        if (createHash("sha256").update(buf).digest("hex") === known.sha256) {
          this.touch(url, known.path, buf.length);
          return buf;
        }
      } catch {
        // cache file gone or unreadable: fetch again below
      }
    } else if (known === undefined && fits) {
      // Not in this ledger, but maybe in the folder's cache: another shard of the job (or a job whose
      // ledger was replaced) fetched it. Cache files are renamed into place whole; a valid FITS one is
      // taken without asking the server again.
      try {
        const path = this.cachePath(url, fits);
        const buf = await readFile(path);
        if (validateFits(buf).ok) {
          const sha256 = createHash("sha256").update(buf).digest("hex");
          this.ledger.putShared({ key: url, url, state: "done", path, bytes: buf.length, sha256 });
          this.touch(url, path, buf.length);
          this.adopted++;
          return buf;
        }
      } catch {
        // not cached: fetch below
      }
    }
    return this.fetch(url, signal, fits, accept);
  }

  /** The cache file of a URL: OUT/.vocut-cache/<sha256 of the URL>[.fits]. */
  private cachePath(url: string, fits: boolean): string {
    return join(this.cacheDir, `${createHash("sha256").update(url).digest("hex")}${fits ? ".fits" : ""}`);
  }

  private async fetch(
    url: string,
    signal: AbortSignal,
    fits: boolean,
    accept: ((body: Buffer) => string | undefined) | undefined,
  ): Promise<Buffer | null> {
    const host = new URL(url).host;
    for (let attempt = 0; ; attempt++) {
      let res: Awaited<ReturnType<HttpClient["get"]>>;
      let error: FetchError;
      let retryAfterMs: number | undefined;
      try {
        res = await this.pacer.schedule(
          host,
          () => {
            this.requests++;
            return this.client.get(url, { signal });
          },
          signal,
        );
      } catch (err) {
        if (signal.aborted) throw err;
        const c = classifyError(err);
        this.pacer.report(host, failureEvent(undefined, c.code));
        if (!c.retryable) throw err;
        error = err instanceof FetchError ? err : new FetchError("CONNECTION", (err as Error).message, true);
        await this.backoff(attempt, host, error, undefined, signal);
        continue;
      }
      if (res.status === 200) {
        const refused = accept?.(res.body);
        if (refused !== undefined) {
          this.pacer.report(host, "success");
          throw new FetchError("REFUSED", `${url}: ${refused}`, false);
        }
        const v = fits ? validateFits(res.body) : ({ ok: true } as const);
        if (v.ok) {
          this.pacer.report(host, "success");
          const path = this.cachePath(url, fits);
          const { bytes, sha256 } = await this.writer.write(path, res.body);
          this.writer.syncDirs();
          this.ledger.putShared({ key: url, url, state: "done", path, bytes, sha256 });
          this.touch(url, path, bytes);
          return res.body;
        }
        this.pacer.report(host, "failure");
        error = new FetchError("CONNECTION", `${url}: 200 but ${v.message}`, true);
      } else if (res.status === 404) {
        // A missing tile is an answer (no coverage there), recorded so it is never asked again.
        this.pacer.report(host, "success");
        this.ledger.putShared({ key: url, url, state: "missing" });
        return null;
      } else if (classifyStatus(res.status) === "permanent") {
        this.pacer.report(host, "success");
        const status = authProblem(res.status, res.credentialsSent === true) ?? `HTTP ${res.status}`;
        throw new FetchError("CONNECTION", `${url}: ${status}`, false);
      } else {
        retryAfterMs = parseRetryAfter(res.headers["retry-after"], this.clock.now());
        this.pacer.report(host, failureEvent(res.status, undefined), retryAfterMs);
        error = new FetchError("CONNECTION", `${url}: HTTP ${res.status}`, true);
      }
      await this.backoff(attempt, host, error, retryAfterMs, signal);
    }
  }

  /** Wait before the next attempt, or throw `error` when retries are used up or the host is down. */
  private async backoff(
    attempt: number,
    host: string,
    error: FetchError,
    retryAfterMs: number | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    if (attempt >= this.options.retries || this.pacer.isHostDown(host)) throw error;
    const o = this.options;
    await this.clock.sleep(
      Math.max(
        backoffMs(attempt, o.random ?? Math.random, o.backoffBaseMs, o.backoffCapMs),
        retryAfterMs ?? 0,
      ),
      signal,
    );
  }
}
