// Mode comparison speed (issue 14, part 4): the --hips vs hips2fits estimate of `plan --dry-run`, sparse
// (uniform all-sky) and dense (a 1-degree field), against a plain ang2pix per target in the same run (the
// ratio is what to compare across machines). Prints targets/s, median of 3.
// Run: npm run build && node bench/modes.mjs [targets]
import { ang2pixNest } from "../dist/healpix/index.js";
import { ModeComparison } from "../dist/sources/hips/mode-compare.js";

const N = Number(process.argv[2] ?? 100_000);
let seed = 12345;
const rnd = () => {
  seed = (seed * 16807) % 2147483647;
  return seed / 2147483647;
};
const sparse = Array.from({ length: N }, (_, i) => ({
  id: String(i),
  row: i,
  raDeg: rnd() * 360,
  decDeg: (Math.asin(2 * rnd() - 1) * 180) / Math.PI,
}));
const dense = sparse.map((t) => ({ ...t, raDeg: 150 + t.raDeg / 360, decDeg: 2 + (t.decDeg + 90) / 180 }));
// A DSS-like survey: tile order 9, 512-px tiles (cells of order 18, 0.8"), BITPIX 16; 64 px stamps at 1".
const tiles = [{ order: 9, tileWidth: 512, frame: "equatorial", bitpix: 16 }];
const geometry = { widthPx: 64, heightPx: 64, pixscaleArcsec: 1 };
const median = (f) => {
  const times = [];
  let out;
  for (let rep = 0; rep < 3; rep++) {
    const t0 = process.hrtime.bigint();
    out = f();
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return [times.sort((a, b) => a - b)[1], out];
};
const [base] = median(() => {
  let x = 0;
  for (const t of sparse) x += ang2pixNest(9, t.raDeg, t.decDeg);
  return x;
});
for (const [name, targets] of [
  ["sparse all-sky", sparse],
  ["dense 1 deg^2", dense],
]) {
  const [s, f] = median(() => {
    const m = new ModeComparison(tiles, geometry, 5);
    for (const t of targets) m.add(t);
    return m.figures();
  });
  console.log(
    `${name}: ${N} targets in ${s.toFixed(2)} s (median of 3, ${Math.round(N / s)} targets/s, ` +
      `${(s / base).toFixed(0)}x one ang2pix per target); ${f.tiles} tiles vs ${f.stamps} stamps -> ${f.cheaper}`,
  );
}
