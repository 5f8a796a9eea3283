/**
 * The 8 neighbours of a NESTED cell, in healpy's get_all_neighbours order: SW, W, NW, N, NE, E, SE, S.
 *
 * On a face x grows towards the north-east and y towards the north-west, so the compass directions are the
 * offsets (dx, dy): SW (-1, 0), W (-1, +1), NW (0, +1), N (+1, +1), NE (+1, 0), E (+1, -1), SE (0, -1), S (-1, -1).
 * Offsets that leave the face cross one of its 4 edges or 4 corners. Faces of one row (north 0..3,
 * equatorial 4..7, south 8..11) are numbered eastwards, k = face % 4. Across an edge between faces of the
 * same orientation the grid continues by a translation of +-nside; between two polar faces (edges meeting at a
 * pole) it continues after a quarter turn around the pole. The northern and southern corners of the
 * equatorial faces and the eastern and western corners of the polar faces are shared by only 3 faces, so the
 * diagonal neighbour there does not exist (-1): 3 corner cells around each of these 8 vertices, 24 cells per
 * order, have only 7 neighbours (at order 0 every base cell has two -1 entries).
 */

import { decodeNest, encodeNest, encodeNestBig, XYF } from "./nested.js";
import { NSIDE } from "./tables.js";
import { assertOrder, assertPixel, MAX_NUMBER_ORDER } from "./validate.js";

/** dx, dy for SW, W, NW, N, NE, E, SE, S. */
const DX = [-1, -1, 0, 1, 1, 1, 0, -1] as const;
const DY = [0, 1, 1, 1, 0, -1, -1, -1] as const;

/** A cell as [face, x, y], written by wrap (one per call of neighboursNest: no module state). */
type Cell = [number, number, number];

/**
 * Map the possibly off-face cell (x, y) of `face` (at most one step outside) onto the face that holds it,
 * into `out`. Returns false where no cell exists (a corner shared by only 3 faces).
 */
function wrap(out: Cell, nside: number, face: number, x: number, y: number): boolean {
  const ox = x < 0 ? -1 : x >= nside ? 1 : 0;
  const oy = y < 0 ? -1 : y >= nside ? 1 : 0;
  if (ox === 0 && oy === 0) return set(out, face, x, y);
  const k = face & 3;
  const east = (k + 1) & 3;
  const west = (k + 3) & 3;
  const m = 2 * nside - 1; // reflection used by the quarter turns around the poles
  switch (face >> 2) {
    case 0: // north polar face: N corner at the pole
      if (ox === -1 && oy === 0) return set(out, 4 + k, x + nside, y); // SW edge -> equatorial face below-left
      if (ox === 0 && oy === -1) return set(out, 4 + east, x, y + nside); // SE edge -> equatorial face below-right
      if (ox === 1 && oy === 0) return set(out, east, y, m - x); // NE edge -> next polar face, quarter turn
      if (ox === 0 && oy === 1) return set(out, west, m - y, x); // NW edge -> previous polar face, quarter turn
      if (ox === -1 && oy === -1) return set(out, 8 + k, x + nside, y + nside); // S corner -> south face below
      if (ox === 1 && oy === 1) return set(out, (k + 2) & 3, m - x, m - y); // N corner (pole) -> opposite face
      return false; // E and W corners: only 3 faces meet
    case 1: // equatorial face
      if (ox === 1 && oy === 0) return set(out, k, x - nside, y); // NE edge
      if (ox === 0 && oy === 1) return set(out, west, x, y - nside); // NW edge
      if (ox === -1 && oy === 0) return set(out, 8 + west, x + nside, y); // SW edge
      if (ox === 0 && oy === -1) return set(out, 8 + k, x, y + nside); // SE edge
      if (ox === 1 && oy === -1) return set(out, 4 + east, x - nside, y + nside); // E corner
      if (ox === -1 && oy === 1) return set(out, 4 + west, x + nside, y - nside); // W corner
      return false; // N and S corners: only 3 faces meet
    default: // south polar face: S corner at the pole
      if (ox === 1 && oy === 0) return set(out, 4 + east, x - nside, y); // NE edge
      if (ox === 0 && oy === 1) return set(out, 4 + k, x, y - nside); // NW edge
      if (ox === -1 && oy === 0) return set(out, 8 + west, y, -1 - x); // SW edge -> previous south face, quarter turn
      if (ox === 0 && oy === -1) return set(out, 8 + east, -1 - y, x); // SE edge -> next south face, quarter turn
      if (ox === 1 && oy === 1) return set(out, k, x - nside, y - nside); // N corner -> north face above
      if (ox === -1 && oy === -1) return set(out, 8 + ((k + 2) & 3), -1 - x, -1 - y); // S corner (pole)
      return false; // E and W corners
  }
}

function set(out: Cell, face: number, x: number, y: number): true {
  out[0] = face;
  out[1] = x;
  out[2] = y;
  return true;
}

/**
 * The 8 neighbours of a NESTED cell in healpy order [SW, W, NW, N, NE, E, SE, S], -1 (or -1n) where none exists.
 * number ipix: order 0..24, result numbers; bigint ipix: order 0..29, result bigints. TypeError on bad order/ipix.
 */
export function neighboursNest(order: number, ipix: number): number[];
export function neighboursNest(order: number, ipix: bigint): bigint[];
export function neighboursNest(order: number, ipix: number | bigint): number[] | bigint[] {
  const big = typeof ipix === "bigint";
  assertOrder(order, big ? 29 : MAX_NUMBER_ORDER);
  assertPixel(order, ipix);
  decodeNest(order, ipix);
  const face = XYF[0] as number;
  const x = XYF[1] as number;
  const y = XYF[2] as number;
  const nside = NSIDE[order] as number;
  const cell: Cell = [0, 0, 0];
  if (big) {
    const out: bigint[] = [];
    for (let d = 0; d < 8; d++) {
      out.push(
        wrap(cell, nside, face, x + (DX[d] as number), y + (DY[d] as number))
          ? encodeNestBig(order, cell[1], cell[2], cell[0])
          : -1n,
      );
    }
    return out;
  }
  const out: number[] = [];
  for (let d = 0; d < 8; d++) {
    out.push(
      wrap(cell, nside, face, x + (DX[d] as number), y + (DY[d] as number))
        ? encodeNest(order, cell[1], cell[2], cell[0])
        : -1,
    );
  }
  return out;
}
