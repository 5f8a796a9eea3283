import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync, watch } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";

/** The built CLI (npm test builds first). */
export const CLI = resolve(import.meta.dirname, "../../dist/cli/index.js");

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Start the built CLI as a child process (no stdin, like cron). */
export function startCli(
  args: readonly string[],
  env: Record<string, string> = {},
): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const done = new Promise<CliResult>((resolvePromise) => {
    child.on("close", (code, signal) => resolvePromise({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

/** Run the built CLI to completion. */
export function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return startCli(args, env).done;
}

/** A fresh temp folder, removed by the returned cleanup. */
export function tempDir(prefix = "vocut-test-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Every file under dir, as paths relative to dir (sorted). */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

/** Resolve after `ms` milliseconds. */
export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll until cond() holds (or throw after timeoutMs). */
export async function waitFor(cond: () => boolean, timeoutMs = 20_000, stepMs = 10): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error("waitFor: timed out");
    await delay(stepMs);
  }
}

/** `vocut run CAT --out OUT` on hips2fits survey CDS/P/SDSS9/g at the test server `url`, then `extra`. */
export function hips2fitsRunArgs(cat: string, out: string, url: string, ...extra: string[]): string[] {
  return ["run", cat, "--out", out, "--hips2fits", "CDS/P/SDSS9/g", "--hips2fits-url", url, ...extra];
}

/** The sample job (npm run sample): its catalog of 40 sources, and the HiPS folders under fixtures/hips. */
export const SAMPLE_CATALOG = resolve(import.meta.dirname, "../../fixtures/sample/catalog.csv");
export const SAMPLE_HIPS = resolve(import.meta.dirname, "../../fixtures/hips");

/** `vocut run CAT --out OUT --hips HIPS` with the sample job's stamps (32 px at 0.8"/px), then `extra`. */
export function sampleHipsArgs(cat: string, out: string, hips: string, ...extra: string[]): string[] {
  return ["run", cat, "--out", out, "--hips", hips, "--size", "32", "--pixscale", "0.8", ...extra];
}

/**
 * `args` with the given flags set: `"--rate", "1000"` replaces the value of a --rate already in args, else
 * appends it; a flag without a value (the next item starts with "--", or none) is appended once. Options
 * with a value may be given only once (a second, different value is a usage error).
 */
export function withFlags(args: readonly string[], ...flags: string[]): string[] {
  const out = [...args];
  for (let i = 0; i < flags.length; i++) {
    const flag = flags[i] as string;
    const value = flags[i + 1];
    const hasValue = value !== undefined && !value.startsWith("--");
    const at = out.indexOf(flag);
    if (hasValue) {
      i++;
      if (at >= 0) out[at + 1] = value;
      else out.push(flag, value);
    } else if (at < 0) out.push(flag);
  }
  return out;
}

/**
 * Ask `probe` again each time a file in `dir` changes (fs.watch: the ledger, its WAL and status file live
 * there), until it gives a value: event-driven, no timer and no sleep. One probe runs at a time; changes
 * during a probe make one more. When `ended` settles first (the child's exit), one last probe decides,
 * and undefined is returned if that one finds nothing either. `dir` must exist.
 */
export function whenSeen<T>(
  dir: string,
  probe: () => Promise<T | undefined>,
  ended: Promise<unknown>,
): Promise<T | undefined> {
  return new Promise<T | undefined>((resolveSeen, rejectSeen) => {
    let dirty = true;
    let probing = false;
    let over = false;
    let last = false;
    const watcher = watch(dir, () => {
      dirty = true;
      void pump();
    });
    const finish = (value: T | undefined, err?: unknown): void => {
      if (over) return;
      over = true;
      watcher.close();
      if (err !== undefined) rejectSeen(err);
      else resolveSeen(value);
    };
    async function pump(): Promise<void> {
      if (probing || over) return;
      probing = true;
      try {
        while ((dirty || last) && !over) {
          const final = last;
          dirty = false;
          const v = await probe();
          if (v !== undefined || final) finish(v);
        }
      } catch (err) {
        finish(undefined, err);
      } finally {
        probing = false;
      }
    }
    void ended.then(() => {
      last = true;
      void pump();
    });
    void pump();
  });
}
