import type { Target } from "../../catalog/types.js";
import { cellSizeRad, queryDiscInclusive } from "../../healpix/index.js";
import { inFrame } from "../../sky/galactic.js";
import { footprintRadiusDeg } from "../coverage.js";
import type { Geometry } from "../source.js";

/**
 * Which is cheaper for a HiPS job: reading tiles (--hips: each distinct tile once) or asking hips2fits
 * (one request per stamp)? Computed from HEALPix alone, before any request: for each target and band, the
 * tiles its stamp may touch are the parents of the cells that may intersect the stamp's disc (through its
 * corners, plus one pixel), queried at a refinement order about one cell per disc radius (at most 4 orders
 * below the tile order). It is an upper bound: a tile is counted when it lies within about 2.3 disc radii
 * of the target (queryDiscInclusive's padding), and a stamp may read fewer.
 */

/** The tile grid of one band, as its HiPS properties give it. */
export interface TileCost {
  readonly order: number;
  readonly tileWidth: number;
  readonly frame: "equatorial" | "galactic";
  /** hips_pixel_bitpix (-32 when absent). */
  readonly bitpix: number;
}

/** The comparison's figures. */
export interface ModeFigures {
  readonly targets: number;
  /** Stamps = targets x bands: hips2fits requests. */
  readonly stamps: number;
  /** Distinct tiles, all bands. */
  readonly tiles: number;
  readonly tileBytes: number;
  readonly tileSeconds: number;
  readonly hips2fitsBytes: number;
  readonly hips2fitsSeconds: number;
  readonly cheaper: "tiles" | "hips2fits";
}

const FITS_BLOCK = 2880;

/** Bytes of a FITS file with one header block and `dataBytes` of data, padded to blocks. */
function fitsBytes(dataBytes: number, headerBlocks: number): number {
  return headerBlocks * FITS_BLOCK + Math.ceil(dataBytes / FITS_BLOCK) * FITS_BLOCK;
}

/** Bytes of one FITS tile: one header block (Hipsgen's) and w x w pixels of |bitpix| / 8 bytes. */
export function tileBytes(t: TileCost): number {
  return fitsBytes((t.tileWidth * t.tileWidth * Math.abs(t.bitpix)) / 8, 1);
}

/** Bytes of one hips2fits FITS stamp: two header blocks and float32 pixels. */
export function hips2fitsStampBytes(g: Geometry): number {
  return fitsBytes(g.widthPx * g.heightPx * 4, 2);
}

/** The order the disc is queried at for tiles of `order`: cells about the disc radius, <= order + 4. */
export function refineOrder(order: number, radiusDeg: number): number {
  const r = (radiusDeg * Math.PI) / 180;
  const k = Math.ceil(Math.log2(cellSizeRad(order) / Math.max(r, 1e-12)));
  return Math.min(order + Math.max(0, Math.min(4, k)), 24);
}

/**
 * Accumulates targets; figures() counts distinct tiles per band (sort + unique). Bands on the same tile
 * grid (order, tile width, frame: the u,g,r,i,z of one survey) touch the same tiles, so the disc is walked
 * once per grid, not once per band: a job's start spent 23 us per target and band on it.
 */
export class ModeComparison {
  /** The distinct grids, and for each the bands on it. */
  private readonly grids: { readonly grid: TileCost; readonly bands: TileCost[] }[] = [];
  private readonly lists: Float64Array[];
  private readonly lengths: number[];
  private targets = 0;
  private readonly radiusDeg: number;

  constructor(
    private readonly bands: readonly TileCost[],
    private readonly geometry: Geometry,
    private readonly ratePerSec: number,
  ) {
    this.radiusDeg = footprintRadiusDeg(geometry);
    for (const t of bands) {
      const same = this.grids.find(
        (g) => g.grid.order === t.order && g.grid.tileWidth === t.tileWidth && g.grid.frame === t.frame,
      );
      if (same === undefined) this.grids.push({ grid: t, bands: [t] });
      else same.bands.push(t);
    }
    this.lists = this.grids.map(() => new Float64Array(1024));
    this.lengths = this.grids.map(() => 0);
  }

  /** The tiles (NESTED, tile order) the stamp of a target may touch on grid `t` (sorted, distinct). */
  tilesOf(target: Target, t: TileCost): number[] {
    const { lon, lat } = inFrame(t.frame, target.raDeg, target.decDeg);
    const q = refineOrder(t.order, this.radiusDeg);
    const per = 4 ** (q - t.order);
    const out: number[] = [];
    for (const c of queryDiscInclusive(q, lon, lat, this.radiusDeg)) {
      const tile = Math.floor(c / per);
      if (out[out.length - 1] !== tile) out.push(tile); // cells come sorted: children of one tile together
    }
    return out;
  }

  add(target: Target): void {
    this.targets++;
    for (let g = 0; g < this.grids.length; g++) {
      for (const tile of this.tilesOf(target, (this.grids[g] as { grid: TileCost }).grid)) {
        let list = this.lists[g] as Float64Array;
        const n = this.lengths[g] as number;
        if (n === list.length) {
          const grown = new Float64Array(list.length * 2);
          grown.set(list);
          this.lists[g] = grown;
          list = grown;
        }
        list[n] = tile;
        this.lengths[g] = n + 1;
      }
    }
  }

  figures(): ModeFigures {
    let tiles = 0;
    let bytes = 0;
    for (let g = 0; g < this.grids.length; g++) {
      const list = (this.lists[g] as Float64Array).subarray(0, this.lengths[g]).sort();
      let distinct = 0;
      for (let i = 0; i < list.length; i++) if (i === 0 || list[i] !== list[i - 1]) distinct++;
      // Each band on the grid is its own HiPS: the same tiles, read once per band, at its own bytes per tile.
      for (const band of (this.grids[g] as { bands: TileCost[] }).bands) {
        tiles += distinct;
        bytes += distinct * tileBytes(band);
      }
    }
    const stamps = this.targets * this.bands.length;
    const tileSeconds = tiles / this.ratePerSec;
    const hips2fitsSeconds = stamps / this.ratePerSec;
    const hips2fitsBytes = stamps * hips2fitsStampBytes(this.geometry);
    const cheaper =
      tileSeconds < hips2fitsSeconds || (tileSeconds === hips2fitsSeconds && bytes <= hips2fitsBytes)
        ? "tiles"
        : "hips2fits";
    return {
      targets: this.targets,
      stamps,
      tiles,
      tileBytes: bytes,
      tileSeconds,
      hips2fitsBytes,
      hips2fitsSeconds,
      cheaper,
    };
  }
}

/** One figure of bytes for people: 1.2 MB, 3.4 GB. */
function humanBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v < 10 && u > 0 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

function humanSeconds(s: number): string {
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 2 * 86400) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} days`;
}

/** The comparison as three lines for the user. */
export function describeModes(f: ModeFigures, ratePerSec: number): string[] {
  return [
    `modes: tiles (--hips): ${f.tiles} distinct tile(s), ~${humanBytes(f.tileBytes)}, ${humanSeconds(f.tileSeconds)} at ${ratePerSec} req/s (an upper bound)`,
    `modes: hips2fits (--hips2fits): ${f.stamps} request(s) (one per stamp), ~${humanBytes(f.hips2fitsBytes)}, ${humanSeconds(f.hips2fitsSeconds)} at ${ratePerSec} req/s`,
    `modes: cheaper: ${f.cheaper === "tiles" ? "tiles (--hips)" : "hips2fits (--hips2fits)"}`,
  ];
}
