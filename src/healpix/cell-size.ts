/** Mean cell size in radians at any order >= 0 without checks: sqrt(4 pi / (12 * 4^order)) = sqrt(pi/3) / 2^order. */
export function cellSizeRadUnchecked(order: number): number {
  return Math.sqrt((4 * Math.PI) / (12 * 4 ** order));
}
