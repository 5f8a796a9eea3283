import type { Card } from "../../fits/header.js";
import { ang2xyfFracInto, type XyfFrac, xyfToNest } from "../../healpix/index.js";
import { inFrame } from "../../sky/galactic.js";
import { gridCards, type StampGrid, tanStamp, tanWcsCards } from "../../wcs/tan-header.js";
import { tanWcs } from "../../wcs/wcs.js";
import type { Geometry } from "../source.js";

/** Interpolation between HEALPix cells. */
export type Interpolation = "nearest" | "bilinear";

/** Where the output grid's cells live: HiPS tile order, tile width and frame. */
export interface TileGrid {
  /** Tile order K. */
  readonly order: number;
  /** Tile width in pixels, 2^S: cells are of order K + S. */
  readonly tileWidth: number;
  readonly frame: "equatorial" | "galactic";
}

/**
 * The sampling plan of one stamp: for every output pixel, the cells (as tile + offset in the tile's
 * data array) and weights to read. Pure HEALPix geometry, no data: built first so the tiles a stamp
 * needs are known (and fetched) before any pixel is computed.
 */
export interface SamplePlan {
  readonly widthPx: number;
  readonly heightPx: number;
  /** Tiles the stamp reads (NESTED index at the tile order), sorted. */
  readonly tiles: readonly number[];
  /** Per output pixel and corner (4 per pixel; nearest uses corner 0 only): index into `tiles`. */
  readonly tileIndex: Int32Array;
  /** Per output pixel and corner: offset in the tile's data array (row-major, FITS file order). */
  readonly offset: Int32Array;
  /** Per output pixel and corner: bilinear weight (nearest: 1, 0, 0, 0). */
  readonly weight: Float64Array;
  /** Per output pixel: the corner holding the nearest cell (fallback when a corner is blank). */
  readonly nearest: Uint8Array;
  /** The stamp's WCS cards (TAN, north up, east left, centred on the target). */
  readonly wcs: Card[];
}

/**
 * Plan a stamp: a TAN grid of `geometry` around (raDeg, decDeg), north up, east left. Each output pixel centre goes sky -> (galactic if the HiPS is) -> fractional
 * HEALPix face coordinates at order K+S. Bilinear uses the four cell centres around the point, across
 * tile edges within a HEALPix face; where they would cross a face (base pixel) edge it falls back to
 * the nearest cell.
 *
 * In-tile layout (verified against Hipsgen tiles, fixtures/hips/orientation.json): for a cell with
 * face coordinates (x, y), tx = x mod w and ty = y mod w, the value is at data row w-1-tx, column ty,
 * i.e. offset (w - 1 - tx) * w + ty in FITS file order.
 *
 * `options.convention` places the target (StampGrid: "hips2fits", the default, as the CDS service, or
 * "centred"); `options.exact` computes every pixel's position exactly (tests); by default positions between
 * coarse-grid nodes are interpolated (see below).
 */
export function planStamp(
  raDeg: number,
  decDeg: number,
  geometry: Geometry,
  grid: TileGrid,
  interp: Interpolation,
  options: { readonly exact?: boolean; readonly convention?: StampGrid } = {},
): SamplePlan {
  const exact = options.exact === true;
  const { widthPx: W, heightPx: H } = geometry;
  const w = grid.tileWidth;
  const s = Math.log2(w);
  const cellOrder = grid.order + s;
  const nside = 2 ** cellOrder;
  const mask = w - 1;
  const stamp = {
    raDeg,
    decDeg,
    widthPx: W,
    heightPx: H,
    pixscaleArcsec: geometry.pixscaleArcsec,
    grid: options.convention ?? "hips2fits",
  };
  const wcsCards = [...tanWcsCards(stamp), ...gridCards(stamp.grid)];
  const wcs = tanWcs(tanStamp(stamp));
  const n = W * H;
  const tiles: number[] = [];
  // Tiles a stamp touches are few (1-9): find them by a linear scan over their face coordinates.
  const tileFace: number[] = [];
  const tileX: number[] = [];
  const tileY: number[] = [];
  // One allocation for the four per-pixel arrays (allocation showed up in profiles).
  const buf = new ArrayBuffer(n * 4 * (8 + 4 + 4) + n);
  const weight = new Float64Array(buf, 0, n * 4);
  const tileIndex = new Int32Array(buf, n * 4 * 8, n * 4);
  const offset = new Int32Array(buf, n * 4 * 12, n * 4);
  const nearest = new Uint8Array(buf, n * 4 * 16, n);
  const f: XyfFrac = { face: 0, x: 0, y: 0 };
  // The last tile found: consecutive cells are nearly always in the same tile.
  let lastFace = -1;
  let lastX = -1;
  let lastY = -1;
  let lastTi = -1;
  const put = (k: number, face: number, cx: number, cy: number, wt: number): void => {
    const tx = cx >> s;
    const ty = cy >> s;
    let ti = lastTi;
    if (tx !== lastX || ty !== lastY || face !== lastFace) {
      ti = -1;
      for (let q = 0; q < tiles.length; q++) {
        if (tileX[q] === tx && tileY[q] === ty && tileFace[q] === face) {
          ti = q;
          break;
        }
      }
      if (ti < 0) {
        ti = tiles.length;
        tiles.push(xyfToNest(grid.order, tx, ty, face));
        tileFace.push(face);
        tileX.push(tx);
        tileY.push(ty);
      }
      lastFace = face;
      lastX = tx;
      lastY = ty;
      lastTi = ti;
    }
    tileIndex[k] = ti;
    offset[k] = (mask - (cx & mask)) * w + (cy & mask);
    weight[k] = wt;
  };
  /** Exact face coordinates of output pixel (i, j) (0-based) into `out`; returns |latitude| in degrees. */
  const locate = (i: number, j: number, out: XyfFrac): number => {
    // src/wcs's TAN (only the coarse-grid nodes below come here, so its cost is a few percent of a stamp).
    const sky = wcs.pixelToWorld(i, j);
    const { lon, lat } = inFrame(grid.frame, sky.raDeg, sky.decDeg);
    ang2xyfFracInto(cellOrder, lon, lat, out);
    return Math.abs(lat);
  };
  // Exact positions on a coarse grid of nodes (every COARSE pixels and the last row/column); pixels
  // between four nodes on the same face, away from the poles, get their face coordinates by bilinear
  // interpolation. Within a face and on one side of the polar-cap boundary the map is smooth: the
  // interpolation error is ~ step^2/8 x curvature, at most 1e-4 of a cell for 8-pixel steps (measured;
  // test: resample-geometry bounds it), and it replaces ~90% of the trigonometry. Everything else is
  // computed exactly.
  const xs = nodesOf(W);
  const ys = nodesOf(H);
  const nodeFace = new Int8Array(xs.length * ys.length);
  const nodeX = new Float64Array(xs.length * ys.length);
  const nodeY = new Float64Array(xs.length * ys.length);
  const nodeLat = new Float64Array(xs.length * ys.length);
  for (let b = 0; b < ys.length; b++) {
    for (let a = 0; a < xs.length; a++) {
      const q = b * xs.length + a;
      nodeLat[q] = locate(xs[a] as number, ys[b] as number, f);
      nodeFace[q] = f.face;
      nodeX[q] = f.x;
      nodeY[q] = f.y;
    }
  }
  let jb = 0;
  for (let j = 0; j < H; j++) {
    while (jb + 2 < ys.length && (ys[jb + 1] as number) <= j) jb++;
    const yLo = ys[jb] as number;
    const uy = (j - yLo) / ((ys[jb + 1] ?? yLo + 1) - yLo) || 0;
    let ia = 0;
    for (let i = 0; i < W; i++) {
      while (ia + 2 < xs.length && (xs[ia + 1] as number) <= i) ia++;
      const p = j * W + i;
      const xLo = xs[ia] as number;
      const ux = (i - xLo) / ((xs[ia + 1] ?? xLo + 1) - xLo) || 0;
      const q00 = jb * xs.length + ia;
      const q10 = q00 + (xs.length > 1 ? 1 : 0);
      const q01 = q00 + (ys.length > 1 ? xs.length : 0);
      const q11 = q01 + (xs.length > 1 ? 1 : 0);
      const face = nodeFace[q00] as number;
      const latHi = Math.max(
        nodeLat[q00] as number,
        nodeLat[q10] as number,
        nodeLat[q01] as number,
        nodeLat[q11] as number,
      );
      const latLo = Math.min(
        nodeLat[q00] as number,
        nodeLat[q10] as number,
        nodeLat[q01] as number,
        nodeLat[q11] as number,
      );
      if (
        !exact &&
        nodeFace[q10] === face &&
        nodeFace[q01] === face &&
        nodeFace[q11] === face &&
        latHi < 89 &&
        // The face coordinates have a kink at |lat| = asin(2/3) (equatorial -> polar formulae): no
        // interpolation across it (there it was off by up to 2e-3 of a cell at 256 px).
        (latHi < CAP_LAT_DEG || latLo > CAP_LAT_DEG)
      ) {
        const w00 = (1 - ux) * (1 - uy);
        const w10 = ux * (1 - uy);
        const w01 = (1 - ux) * uy;
        const w11 = ux * uy;
        f.face = face;
        f.x =
          w00 * (nodeX[q00] as number) +
          w10 * (nodeX[q10] as number) +
          w01 * (nodeX[q01] as number) +
          w11 * (nodeX[q11] as number);
        f.y =
          w00 * (nodeY[q00] as number) +
          w10 * (nodeY[q10] as number) +
          w01 * (nodeY[q01] as number) +
          w11 * (nodeY[q11] as number);
      } else {
        locate(i, j, f);
      }
      const nx = Math.floor(f.x);
      const ny = Math.floor(f.y);
      const k = p * 4;
      if (interp === "nearest") {
        put(k, f.face, nx, ny, 1);
        for (let c = 1; c < 4; c++) put(k + c, f.face, nx, ny, 0);
        nearest[p] = 0;
        continue;
      }
      // Cell centres are at integer + 0.5: the four around the point start at floor(x - 0.5).
      const x0 = Math.floor(f.x - 0.5);
      const y0 = Math.floor(f.y - 0.5);
      const tx = f.x - 0.5 - x0;
      const ty = f.y - 0.5 - y0;
      if (x0 < 0 || y0 < 0 || x0 + 1 >= nside || y0 + 1 >= nside) {
        // Across a base-pixel edge the neighbour cells live on another face: use the nearest cell.
        put(k, f.face, nx, ny, 1);
        for (let c = 1; c < 4; c++) put(k + c, f.face, nx, ny, 0);
        nearest[p] = 0;
        continue;
      }
      put(k, f.face, x0, y0, (1 - tx) * (1 - ty));
      if ((x0 & mask) !== mask && (y0 & mask) !== mask) {
        // All four cells in the same tile (the common case): x+1 is the row above, y+1 the next column.
        const ti = tileIndex[k] as number;
        const base = offset[k] as number;
        tileIndex[k + 1] = ti;
        offset[k + 1] = base - w;
        weight[k + 1] = tx * (1 - ty);
        tileIndex[k + 2] = ti;
        offset[k + 2] = base + 1;
        weight[k + 2] = (1 - tx) * ty;
        tileIndex[k + 3] = ti;
        offset[k + 3] = base - w + 1;
        weight[k + 3] = tx * ty;
      } else {
        put(k + 1, f.face, x0 + 1, y0, tx * (1 - ty));
        put(k + 2, f.face, x0, y0 + 1, (1 - tx) * ty);
        put(k + 3, f.face, x0 + 1, y0 + 1, tx * ty);
      }
      nearest[p] = (nx > x0 ? 1 : 0) + (ny > y0 ? 2 : 0);
    }
  }
  return { widthPx: W, heightPx: H, tiles, tileIndex, offset, weight, nearest, wcs: wcsCards };
}

/** Latitude of the HEALPix polar-cap boundary, |z| = 2/3, in degrees. */
const CAP_LAT_DEG = (Math.asin(2 / 3) * 180) / Math.PI;

/** Coarse-grid spacing for interpolated face coordinates, in output pixels. */
const COARSE = 8;

/** Node positions along an axis of n pixels: 0, COARSE, 2*COARSE, ... and n-1. */
function nodesOf(n: number): number[] {
  const out: number[] = [];
  for (let v = 0; v < n - 1; v += COARSE) out.push(v);
  out.push(n - 1);
  return out;
}

/**
 * Compute the stamp from its plan and the tiles' data (same order as `plan.tiles`; null = no tile,
 * i.e. no coverage). A pixel whose corners are all present is bilinear; otherwise it takes the nearest
 * cell (NaN when that is missing). Returns float32 pixels in FITS order (row 0 = south) and whether
 * any pixel has data.
 */
export function sampleStamp(
  plan: SamplePlan,
  tileData: ReadonlyArray<ArrayLike<number> | null>,
): { data: Float32Array; covered: boolean } {
  const n = plan.widthPx * plan.heightPx;
  const out = new Float32Array(n);
  const { tileIndex, offset, weight, nearest } = plan;
  let covered = false;
  for (let p = 0; p < n; p++) {
    const k = p * 4;
    const t0 = tileData[tileIndex[k] as number];
    const t1 = tileData[tileIndex[k + 1] as number];
    const t2 = tileData[tileIndex[k + 2] as number];
    const t3 = tileData[tileIndex[k + 3] as number];
    // A missing tile or a blank cell makes the sum NaN; then the nearest cell decides (NaN if blank).
    let acc =
      t0 == null || t1 == null || t2 == null || t3 == null
        ? Number.NaN
        : (weight[k] as number) * (t0[offset[k] as number] as number) +
          (weight[k + 1] as number) * (t1[offset[k + 1] as number] as number) +
          (weight[k + 2] as number) * (t2[offset[k + 2] as number] as number) +
          (weight[k + 3] as number) * (t3[offset[k + 3] as number] as number);
    if (Number.isNaN(acc)) {
      const c = k + (nearest[p] as number);
      const t = tileData[tileIndex[c] as number];
      acc = t == null ? Number.NaN : (t[offset[c] as number] as number);
    }
    out[p] = acc;
    if (!Number.isNaN(acc)) covered = true;
  }
  return { data: out, covered };
}
