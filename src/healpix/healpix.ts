/**
 * HEALPix, NESTED scheme only (the IVOA HiPS 1.0 tiling: tile N of order k has children 4N..4N+3 at order k+1).
 *
 * Units: positions are degrees (raDeg any finite value, wrapped; decDeg in [-90, 90]); cellSizeRad and
 * maxCellRadiusRad are radians. Orders run 0..29 (nside = 2^order). Indices at order k are < 12 * 4^k, which
 * exceeds 2^53 above order 24: the number-returning functions accept orders 0..24 and are exact there, the
 * `...Big` / bigint overloads accept every order. Bad arguments throw a TypeError naming the argument.
 */

export { ang2pixNest, ang2pixNestBig, ang2xyfFrac, ang2xyfFracInto, type XyfFrac } from "./ang2pix.js";
export {
  MOC_RANGE_ORDER,
  type Moc,
  MocError,
  type MocTable,
  mocContains,
  mocFromCells,
  mocFromTable,
  mocIntersectsDisc,
  mocOverlapsRange,
  mocSkyFraction,
} from "./moc.js";
export { neighboursNest } from "./neighbours.js";
export {
  cellSizeRad,
  childrenOf,
  nestToXyf,
  nsideOf,
  parentOf,
  xyfToNest,
  xyfToNestBig,
} from "./nested.js";
export { pix2angNest } from "./pix2ang.js";
export { maxCellRadiusRad, queryDiscInclusive, queryDiscInclusiveBig } from "./query-disc.js";
export { MAX_NUMBER_ORDER, MAX_ORDER } from "./validate.js";
