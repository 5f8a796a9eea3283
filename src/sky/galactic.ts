/**
 * ICRS -> Galactic rotation, as astropy applies it (the matrix was obtained from astropy
 * 5.2.1 by transforming the ICRS unit vectors: fixtures/sky/make_galactic.py). Row i, column j:
 * component i of the image of ICRS unit vector j.
 */
const ICRS_TO_GAL: readonly (readonly [number, number, number])[] = [
  [-0.05487565771259158, -0.873437051955616, -0.4838350736167153],
  [0.49410943719272676, -0.44482972122329517, 0.7469821839866675],
  [-0.8676661375596576, -0.19807633727300053, 0.4559838136873016],
];

const D2R = Math.PI / 180;
const R2D = 180 / Math.PI;

function rotate(
  m: readonly (readonly [number, number, number])[],
  transpose: boolean,
  lonDeg: number,
  latDeg: number,
): { lon: number; lat: number } {
  const a = lonDeg * D2R;
  const d = latDeg * D2R;
  const v = [Math.cos(d) * Math.cos(a), Math.cos(d) * Math.sin(a), Math.sin(d)] as const;
  const at = (i: number, j: number): number => (transpose ? m[j]?.[i] : m[i]?.[j]) ?? 0;
  const out = [0, 1, 2].map((i) => at(i, 0) * v[0] + at(i, 1) * v[1] + at(i, 2) * v[2]) as [
    number,
    number,
    number,
  ];
  let lon = Math.atan2(out[1], out[0]) * R2D;
  if (lon < 0) lon += 360;
  if (lon >= 360) lon -= 360;
  const lat = Math.atan2(out[2], Math.hypot(out[0], out[1])) * R2D;
  return { lon, lat };
}

/**
 * An ICRS position (degrees) in the frame of a HEALPix map or MOC: unchanged for "equatorial", galactic
 * (l, b) for "galactic". Longitude and latitude in degrees.
 */
export function inFrame(
  frame: "equatorial" | "galactic",
  raDeg: number,
  decDeg: number,
): { lon: number; lat: number } {
  if (frame !== "galactic") return { lon: raDeg, lat: decDeg };
  const g = icrsToGalactic(raDeg, decDeg);
  return { lon: g.lDeg, lat: g.bDeg };
}

/** Galactic longitude and latitude (degrees, l in [0, 360)) of an ICRS position (degrees). */
export function icrsToGalactic(raDeg: number, decDeg: number): { lDeg: number; bDeg: number } {
  const r = rotate(ICRS_TO_GAL, false, raDeg, decDeg);
  return { lDeg: r.lon, bDeg: r.lat };
}

/** ICRS position (degrees, RA in [0, 360)) of a galactic position (degrees). */
export function galacticToIcrs(lDeg: number, bDeg: number): { raDeg: number; decDeg: number } {
  const r = rotate(ICRS_TO_GAL, true, lDeg, bDeg);
  return { raDeg: r.lon, decDeg: r.lat };
}
