import { existsSync, mkdirSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { PNG } from "pngjs";
import { ExitCode, usageError, VocutError } from "../errors.js";
import { type JobReader, withJobReader } from "../export/job-reader.js";
import { GLYPH_H, GLYPH_W, glyph } from "./font.js";
import { asinhStretch, HIGH_PERCENTILE, LOW_PERCENTILE, luptonRgb, percentiles } from "./stretch.js";

/** Pixels between stamps and around the sheet. */
export const GAP = 2;
/** Stamps are magnified by the smallest integer factor that makes their longer side at least this. */
export const MIN_STAMP_PX = 64;
/** Each font pixel is drawn as LABEL_SCALE x LABEL_SCALE sheet pixels. */
export const LABEL_SCALE = 2;
/** Height of the id strip under each stamp with --ids. */
export const LABEL_H = GLYPH_H * LABEL_SCALE + 4;
/** Horizontal advance per label character. */
const CHAR_W = (GLYPH_W + 1) * LABEL_SCALE;

const BACKGROUND = [0, 0, 0] as const;
const MISSING_GREY = [128, 128, 128] as const;
const MISSING_X = [220, 0, 0] as const;
const LABEL_INK = [255, 255, 255] as const;

export interface PreviewOptions {
  readonly ledgerFile: string;
  readonly outFile: string;
  /** Single-band sheet of this band (default: the job's first band). */
  readonly band?: string;
  /** Colour sheet: the bands shown as red, green, blue. */
  readonly rgb?: readonly [string, string, string];
  /** At most this many targets, in catalog order. */
  readonly max: number;
  readonly ids: boolean;
}

export interface PreviewSummary {
  readonly file: string;
  readonly width: number;
  readonly height: number;
  readonly columns: number;
  readonly rows: number;
  /** Stamps on the sheet (targets shown). */
  readonly stamps: number;
  /** Of those, stamps drawn as a grey box with a red X (not done, or unreadable). */
  readonly missing: number;
  /** Integer magnification of each stamp pixel. */
  readonly scale: number;
  readonly bands: readonly string[];
}

/** The grid of a sheet of n stamps (near square, wider than tall). */
export function sheetGrid(n: number): { columns: number; rows: number } {
  const columns = Math.max(1, Math.ceil(Math.sqrt(n)));
  return { columns, rows: Math.max(1, Math.ceil(n / columns)) };
}

/** Sheet size: every cell is cellW x (cellH + label), with GAP pixels between cells and around them. */
export function sheetSize(
  n: number,
  cellW: number,
  cellH: number,
  ids: boolean,
): { columns: number; rows: number; width: number; height: number } {
  const { columns, rows } = sheetGrid(n);
  return {
    columns,
    rows,
    width: columns * cellW + (columns + 1) * GAP,
    height: rows * (cellH + (ids ? LABEL_H : 0)) + (rows + 1) * GAP,
  };
}

/** The integer magnification for stamps of w x h pixels. */
export function stampScale(w: number, h: number): number {
  return Math.max(1, Math.ceil(MIN_STAMP_PX / Math.max(1, w, h)));
}

interface Plane {
  readonly width: number;
  readonly height: number;
  readonly data: Float64Array;
}

/** One target: one plane per shown band, undefined when that cutout is not done or cannot be read. */
interface Stamp {
  readonly id: string;
  readonly planes: Array<Plane | undefined>;
}

/** Resolve --band / --rgb to band indexes of the job (usage error for an unknown band). */
function bandIndexes(opts: PreviewOptions, bands: readonly string[]): number[] {
  const index = (b: string, flag: string): number => {
    const i = bands.indexOf(b);
    if (i < 0)
      throw usageError(
        "BAD_OPTION",
        `${flag}: no band ${JSON.stringify(b)} in this job (bands: ${bands.join(",")})`,
      );
    return i;
  };
  if (opts.rgb !== undefined) return opts.rgb.map((b) => index(b, `--rgb ${opts.rgb?.join(",")}`));
  if (opts.band !== undefined) return [index(opts.band, `--band ${opts.band}`)];
  return [0];
}

/** The first `max` targets of the job with the shown bands read (catalog order). */
function readStamps(reader: JobReader, shown: readonly number[], max: number): Stamp[] {
  const stamps: Stamp[] = [];
  let row = Number.NaN;
  let current: Stamp | undefined;
  for (const t of reader.ledger.iterateTasks()) {
    if (t.targetRow !== row) {
      if (stamps.length >= max) break;
      row = t.targetRow;
      current = { id: t.id, planes: shown.map(() => undefined) };
      stamps.push(current);
    }
    if (!shown.includes(t.bandIndex) || t.state !== "done" || current === undefined) continue;
    try {
      const img = reader.read(reader.relOf(t.bandIndex, t.safeId, t.targetRow), t);
      if (img.depth !== 1) continue;
      const plane = { width: img.width, height: img.height, data: img.data };
      // A band may be shown twice (--rgb r,g,g).
      shown.forEach((b, slot) => {
        if (b === t.bandIndex && current !== undefined) current.planes[slot] = plane;
      });
    } catch {
      // Unreadable: drawn as missing.
    }
  }
  return stamps;
}

/** A stamp is drawn when every shown band is there with one size. */
function drawable(s: Stamp): Plane[] | undefined {
  const first = s.planes[0];
  if (first === undefined) return undefined;
  for (const p of s.planes) {
    if (p === undefined || p.width !== first.width || p.height !== first.height) return undefined;
  }
  return s.planes as Plane[];
}

function writeError(err: unknown, path: string): VocutError {
  if (err instanceof VocutError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? "EIO";
  const full = code === "ENOSPC" || code === "EDQUOT";
  return new VocutError(
    "PREVIEW_WRITE",
    `cannot write ${path} (${code}): ${full ? "the disk is full; free space and try again" : (err as Error).message}`,
    full ? ExitCode.RetryLater : ExitCode.Usage,
    { cause: err },
  );
}

/**
 * Draw a contact sheet PNG of the first `max` targets of a job: single band (per-sheet percentile limits,
 * then asinh) or Lupton colour. Written to FILE.partial-PID, then renamed.
 */
export function previewJob(opts: PreviewOptions): PreviewSummary {
  const file = resolve(opts.outFile);
  if (existsSync(file) && statSync(file).isDirectory()) {
    throw usageError("PREVIEW_OUT", `--out ${opts.outFile} is a folder; give a file name`);
  }
  const { stamps, bands } = withJobReader(opts.ledgerFile, (reader) => {
    const shown = bandIndexes(opts, reader.bands);
    return {
      stamps: readStamps(reader, shown, opts.max),
      bands: shown.map((i) => reader.bands[i] as string),
    };
  });
  const drawn = stamps.map(drawable);

  // Cells fit the largest stamp; smaller ones are centred in theirs.
  let maxW = 1;
  let maxH = 1;
  for (const d of drawn) {
    if (d === undefined) continue;
    maxW = Math.max(maxW, (d[0] as Plane).width);
    maxH = Math.max(maxH, (d[0] as Plane).height);
  }
  if (drawn.every((d) => d === undefined)) {
    maxW = 32;
    maxH = 32;
  }
  const scale = stampScale(maxW, maxH);
  const cellW = maxW * scale;
  const cellH = maxH * scale;
  const size = sheetSize(stamps.length, cellW, cellH, opts.ids);
  const png = new PNG({ width: size.width, height: size.height, colorType: 2 });
  const put = (x: number, y: number, c: readonly number[]): void => {
    if (x < 0 || y < 0 || x >= size.width || y >= size.height) return;
    const o = (y * size.width + x) * 4;
    png.data[o] = c[0] as number;
    png.data[o + 1] = c[1] as number;
    png.data[o + 2] = c[2] as number;
    png.data[o + 3] = 255;
  };
  for (let y = 0; y < size.height; y++) for (let x = 0; x < size.width; x++) put(x, y, BACKGROUND);

  // The colour of one stamp pixel from its band values.
  const color = pixelColour(drawn, bands.length);

  drawn.forEach((planes, n) => {
    const cx = GAP + (n % size.columns) * (cellW + GAP);
    const cy = GAP + Math.floor(n / size.columns) * (cellH + (opts.ids ? LABEL_H : 0) + GAP);
    if (planes === undefined) {
      for (let y = 0; y < cellH; y++) for (let x = 0; x < cellW; x++) put(cx + x, cy + y, MISSING_GREY);
      // A red X, 2 px thick, corner to corner.
      for (let x = 0; x < cellW; x++) {
        const y = Math.round((x * (cellH - 1)) / Math.max(1, cellW - 1));
        for (const dy of [0, 1]) {
          put(cx + x, cy + Math.min(cellH - 1, y + dy), MISSING_X);
          put(cx + x, cy + Math.max(0, cellH - 1 - y - dy), MISSING_X);
        }
      }
    } else {
      const p0 = planes[0] as Plane;
      const ox = cx + Math.floor((cellW - p0.width * scale) / 2);
      const oy = cy + Math.floor((cellH - p0.height * scale) / 2);
      for (let y = 0; y < p0.height; y++) {
        // FITS row 0 is the bottom: draw it last so that north is up.
        const sy = oy + (p0.height - 1 - y) * scale;
        for (let x = 0; x < p0.width; x++) {
          const c = color(planes, y * p0.width + x);
          for (let dy = 0; dy < scale; dy++)
            for (let dx = 0; dx < scale; dx++) put(ox + x * scale + dx, sy + dy, c);
        }
      }
    }
    if (opts.ids) {
      const chars = [...(stamps[n] as Stamp).id];
      const fit = Math.max(1, Math.floor((cellW + LABEL_SCALE) / CHAR_W));
      const text = chars.length > fit ? [...chars.slice(0, fit - 1), "~"] : chars;
      const tx = cx + Math.max(0, Math.floor((cellW - text.length * CHAR_W + LABEL_SCALE) / 2));
      const ty = cy + cellH + 2;
      text.forEach((ch, k) => {
        const bits = glyph(ch);
        for (let gy = 0; gy < GLYPH_H; gy++) {
          for (let gx = 0; gx < GLYPH_W; gx++) {
            if (bits[gy * GLYPH_W + gx] !== "1") continue;
            for (let dy = 0; dy < LABEL_SCALE; dy++) {
              for (let dx = 0; dx < LABEL_SCALE; dx++) {
                put(tx + k * CHAR_W + gx * LABEL_SCALE + dx, ty + gy * LABEL_SCALE + dy, LABEL_INK);
              }
            }
          }
        }
      });
    }
  });

  const partial = `${file}.partial-${process.pid}`;
  let renamed = false;
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(partial, PNG.sync.write(png, { colorType: 2 }));
    renameSync(partial, file);
    renamed = true;
  } catch (err) {
    throw writeError(err, file);
  } finally {
    if (!renamed) {
      try {
        unlinkSync(partial);
      } catch {
        // Not created.
      }
    }
  }
  return {
    file,
    width: size.width,
    height: size.height,
    columns: size.columns,
    rows: size.rows,
    stamps: stamps.length,
    missing: drawn.filter((d) => d === undefined).length,
    scale,
    bands,
  };
}

const byte = (v: number): number => Math.round(Math.min(1, Math.max(0, v)) * 255);

/**
 * The per-pixel colour function of a sheet. One band: per-sheet limits from the 1st and 99.5th
 * percentiles of every finite pixel, then asinh. Three bands: each band minus its sheet median (the sky),
 * then Lupton colour with alpha = 1 / (99.5th percentile of I), so that I there is full scale.
 */
function pixelColour(
  drawn: ReadonlyArray<Plane[] | undefined>,
  nBands: number,
): (planes: readonly Plane[], i: number) => [number, number, number] {
  const planesOf = (b: number): Float64Array[] =>
    drawn.flatMap((d) => (d === undefined ? [] : [(d[b] as Plane).data]));
  if (nBands === 1) {
    const [lo, hi] = percentiles(planesOf(0), [LOW_PERCENTILE, HIGH_PERCENTILE]) as [number, number];
    const f = asinhStretch(lo, hi);
    return (planes, i) => {
      const v = byte(f((planes[0] as Plane).data[i] as number));
      return [v, v, v];
    };
  }
  const sky = [0, 1, 2].map((b) => percentiles(planesOf(b), [50])[0] as number);
  const s = (planes: readonly Plane[], b: number, i: number): number => {
    const v = (planes[b] as Plane).data[i] as number;
    return Number.isFinite(v) ? v - ((sky[b] as number) || 0) : Number.NaN;
  };
  const intensities: Float64Array[] = drawn.flatMap((d) => {
    if (d === undefined) return [];
    const n = (d[0] as Plane).data.length;
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = (s(d, 0, i) + s(d, 1, i) + s(d, 2, i)) / 3;
    return [out];
  });
  const top = percentiles(intensities, [HIGH_PERCENTILE])[0] as number;
  const f = luptonRgb(top > 0 ? 1 / top : 1);
  return (planes, i) => {
    const [r, g, b] = f(s(planes, 0, i), s(planes, 1, i), s(planes, 2, i));
    return [byte(r), byte(g), byte(b)];
  };
}
