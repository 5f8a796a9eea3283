import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { encodeImage } from "../../src/fits/image.js";
import { Ledger, type TaskState } from "../../src/ledger/ledger.js";
import { safeId } from "../../src/plan/safe-name.js";

export const BANDS = ["g", "r"] as const;
export const W = 4;
export const H = 3;

/** A template-source job as `vocut run --url ... --bands g,r --size 4x3 --pixscale 1` would store it. */
export const JOB = {
  source: {
    kind: "template",
    template: "https://x/?ra={ra}&dec={dec}&b={band}",
    bands: [...BANDS],
    geometry: { widthPx: W, heightPx: H, pixscaleArcsec: 1 },
  },
  layout: "{band}/{id}.fits",
  catalog: { path: "/x.csv" },
};

/** Final state of one task; `done` writes a real FITS file (optionally of another size or encoding). */
export type Cell =
  | Exclude<TaskState, "running" | "done">
  | { readonly done: true; readonly width?: number; readonly height?: number; readonly scaled?: boolean };

export interface TargetSpec {
  readonly row: number;
  readonly id: string;
  readonly ra: number;
  readonly dec: number;
  /** One cell per band; missing cells stay pending. */
  readonly cells: readonly Cell[];
}

/** The physical value of pixel (x, y) of a done cutout: unique per row, band and pixel. */
export const pixel = (row: number, band: number, x: number, y: number): number =>
  row * 1000 + band * 100 + y * 10 + x;

/** The output path of a task relative to OUT, as the default layout gives it. */
export const relPath = (band: number, id: string): string =>
  join(BANDS[band] as string, `${safeId(id)}.fits`);

/**
 * Build a real job: OUT/vocut.db with the job spec, meta "out", the targets and their final task states, and
 * a real FITS file (encodeImage) for every done task. Returns the ledger path.
 */
export function buildJob(out: string, targets: readonly TargetSpec[]): string {
  mkdirSync(out, { recursive: true });
  const file = join(out, "vocut.db");
  const ledger = Ledger.open(file, { create: true });
  try {
    ledger.checkJob(JOB);
    ledger.setMeta("out", out);
    ledger.transaction(() => {
      for (const t of targets) {
        ledger.addTarget(
          { row: t.row, id: t.id, safeId: safeId(t.id), raDeg: t.ra, decDeg: t.dec },
          BANDS.length,
        );
      }
    });
    const byRow = new Map(targets.map((t) => [t.row, t]));
    for (const task of ledger.claim(targets.length * BANDS.length)) {
      const spec = byRow.get(task.targetRow);
      const cell = spec?.cells[task.bandIndex] ?? "pending";
      if (cell === "pending") ledger.complete(task.seq, { kind: "requeue" });
      else if (cell === "no_coverage") ledger.complete(task.seq, { kind: "no_coverage", message: "all NaN" });
      else if (cell === "failed_permanent" || cell === "failed_retryable")
        ledger.complete(task.seq, { kind: cell, code: "HTTP_404", message: "not found" });
      else {
        const w = cell.width ?? W;
        const h = cell.height ?? H;
        const values: number[] = [];
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) values.push(pixel(task.targetRow, task.bandIndex, x, y));
        }
        // scaled: BITPIX 16 with BSCALE/BZERO, stored so that physical = stored * 0.5 + 1000 is the same value.
        const body = cell.scaled
          ? encodeImage({
              bitpix: 16,
              shape: [w, h],
              data: values.map((v) => (v - 1000) * 2),
              cards: [
                { key: "BSCALE", value: 0.5 },
                { key: "BZERO", value: 1000 },
              ],
            })
          : encodeImage({ bitpix: -32, shape: [w, h], data: values });
        const path = join(out, relPath(task.bandIndex, task.id));
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, body);
        ledger.complete(task.seq, { kind: "done", bytes: body.length, sha256: "0".repeat(64) });
      }
    }
  } finally {
    ledger.close();
  }
  return file;
}

/** A parsed .npy file (little-endian float32 only, like vocut writes). */
export function parseNpy(buf: Buffer): {
  version: [number, number];
  header: string;
  dataOffset: number;
  shape: number[];
  data: Float32Array;
} {
  if (buf.toString("latin1", 0, 6) !== "\x93NUMPY") throw new Error("not an npy file");
  const version: [number, number] = [buf[6] as number, buf[7] as number];
  const long = version[0] >= 2;
  const headerLength = long ? buf.readUInt32LE(8) : buf.readUInt16LE(8);
  const start = long ? 12 : 10;
  const header = buf.toString("latin1", start, start + headerLength);
  const m = /'shape': \(([\d, ]*)\)/.exec(header);
  if (m === null || !header.includes("'descr': '<f4'") || !header.includes("'fortran_order': False")) {
    throw new Error(`unexpected npy header ${JSON.stringify(header)}`);
  }
  const shape = (m[1] ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map(Number);
  const dataOffset = start + headerLength;
  const n = shape.reduce((a, b) => a * b, 1);
  const view = new DataView(buf.buffer, buf.byteOffset + dataOffset, buf.length - dataOffset);
  if (view.byteLength !== n * 4)
    throw new Error(`npy data is ${view.byteLength} bytes, shape needs ${n * 4}`);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = view.getFloat32(i * 4, true);
  return { version, header, dataOffset, shape, data };
}
