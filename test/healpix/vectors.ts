import { readFileSync } from "node:fs";
import { resolve } from "node:path";

/** Reference vectors written by fixtures/healpix/make_vectors.py (healpy); indices are decimal strings. */
export interface Vectors {
  healpyVersion: string;
  positions: Array<[number, number]>;
  ang2pix: Record<string, string[]>;
  pix2ang: Record<string, Array<[string, number, number]>>;
  neighbours: Record<string, Array<[string, string[]]>>;
  queryDisc: Array<{ order: number; raDeg: number; decDeg: number; radiusDeg: number; cells: number[] }>;
  maxPixrad: number[];
}

export const VECTORS: Vectors = JSON.parse(
  readFileSync(resolve(import.meta.dirname, "../../fixtures/healpix/vectors.json"), "utf8"),
) as Vectors;

export const ORDERS: number[] = Object.keys(VECTORS.ang2pix)
  .map(Number)
  .sort((a, b) => a - b);
