import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { seeded } from "./prng.js";

/** The bundled sample HiPS (README "The sample job"), as `--hips` and stamp flags. */
export const SAMPLE_HIPS_FLAGS = [
  "--hips",
  ["g", "r", "i"]
    .map((b) => `${b}=${resolve(import.meta.dirname, `../../fixtures/hips/sample-${b}`)}`)
    .join(","),
  "--size",
  "32",
  "--pixscale",
  "0.8",
] as const;

/** A catalog of `n` targets `t0..` spread over the sample HiPS field (400 x 0.8" around 150.1, 2.2). */
export function sampleFieldCatalog(path: string, n: number, seed = 7): string {
  const rnd = seeded(seed);
  const half = (400 * 0.8) / 2 / 3600 - 20 / 3600;
  const lines = ["id,ra,dec"];
  for (let i = 0; i < n; i++)
    lines.push(
      `t${i},${(150.1 + (rnd() * 2 - 1) * half).toFixed(7)},${(2.2 + (rnd() * 2 - 1) * half).toFixed(7)}`,
    );
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}

/** One member of a tar file as read back by parseTar(). */
export interface TarMember {
  readonly name: string;
  /** Offset of the member's data in the file. */
  readonly offset: number;
  readonly size: number;
}

/**
 * The regular-file members of a ustar file (pax `path` records applied), read independently of the
 * writer, and where the archive's two zero blocks start. Throws on a bad checksum or a member cut short.
 */
export function parseTar(file: string): { members: TarMember[]; end: number; length: number } {
  const buf = readFileSync(file);
  const members: TarMember[] = [];
  let at = 0;
  let paxPath: string | undefined;
  const field = (h: Buffer, from: number, len: number): string =>
    h
      .subarray(from, from + len)
      .toString("utf8")
      .replace(/\0.*$/s, "");
  for (;;) {
    if (at + 512 > buf.length) throw new Error(`${file}: no end-of-archive blocks`);
    const h = buf.subarray(at, at + 512);
    if (h.every((b) => b === 0)) break;
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : (h[i] as number);
    if (Number.parseInt(field(h, 148, 8).trim(), 8) !== sum)
      throw new Error(`${file}: bad checksum at ${at}`);
    const size = Number.parseInt(field(h, 124, 12), 8);
    const type = field(h, 156, 1);
    const data = at + 512;
    if (data + size > buf.length) throw new Error(`${file}: member at ${at} cut short`);
    if (type === "x") {
      const m = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(buf.subarray(data, data + size).toString("utf8"));
      paxPath = m?.[1];
    } else {
      const prefix = field(h, 345, 155);
      const name = paxPath ?? (prefix === "" ? field(h, 0, 100) : `${prefix}/${field(h, 0, 100)}`);
      members.push({ name, offset: data, size });
      paxPath = undefined;
    }
    at = data + Math.ceil(size / 512) * 512;
  }
  if (!buf.subarray(at, at + 1024).every((b) => b === 0) || at + 1024 > buf.length)
    throw new Error(`${file}: end-of-archive blocks missing`);
  return { members, end: at, length: buf.length };
}

/** Extract every tar file in `tarDir` into `into` with GNU tar; its warnings fail like errors. */
export function extractAll(tarDir: string, into: string): string[] {
  const names = readdirSync(tarDir).filter((n) => n.endsWith(".tar"));
  for (const n of names) {
    const r = spawnSync("tar", ["-xf", join(tarDir, n)], { cwd: into, encoding: "utf8" });
    if (r.status !== 0 || r.stderr !== "") throw new Error(`tar -xf ${n}: ${r.stderr}`);
  }
  return names;
}
