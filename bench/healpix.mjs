// HEALPix ang2pixNest throughput. Build first: npx tsc -p tsconfig.json, then: node bench/healpix.mjs
// A cutout resampler calls ang2pixNest once per output pixel; a 28x28 stamp is 784 calls.
import { ang2pixNest, ang2pixNestBig, ang2xyfFracInto } from "../dist/healpix/index.js";

const STAMP = 28 * 28;
const ORDER = Number(process.argv[2] ?? 11);
const ROUNDS = 2000;

// One 28x28 stamp of 1 arcsec pixels around each of several centres (incl. near a pole and the cap edge).
const centres = [
  [10.684, 41.269],
  [83.822, -5.391],
  [201.365, -43.019],
  [0.01, 89.99],
  [359.99, 41.8103149],
];
const stamps = centres.map(([ra, dec]) => {
  const pts = new Float64Array(2 * STAMP);
  for (let j = 0; j < 28; j++) {
    for (let i = 0; i < 28; i++) {
      const d = dec + (j - 13.5) / 3600;
      pts[2 * (j * 28 + i)] = ra + (i - 13.5) / 3600 / Math.cos((d * Math.PI) / 180);
      pts[2 * (j * 28 + i) + 1] = Math.max(-90, Math.min(90, d));
    }
  }
  return pts;
});

function run(fn) {
  let sink = 0;
  for (const pts of stamps) for (let k = 0; k < STAMP; k++) sink += Number(fn(pts[2 * k], pts[2 * k + 1]));
  return sink;
}

function bench(name, fn) {
  for (let r = 0; r < 200; r++) run(fn); // warm up (JIT)
  const t0 = process.hrtime.bigint();
  let sink = 0;
  for (let r = 0; r < ROUNDS; r++) sink += run(fn);
  const ns = Number(process.hrtime.bigint() - t0);
  const calls = ROUNDS * stamps.length * STAMP;
  const perCallUs = ns / 1000 / calls;
  console.log(
    `${name.padEnd(34)} ${perCallUs.toFixed(4)} us/call  ${(perCallUs * STAMP).toFixed(2)} us per 28x28 stamp (784 calls)` +
      `  [sink ${sink % 1000}]`,
  );
}

const out = { face: 0, x: 0, y: 0 };
console.log(
  `node ${process.version}, order ${ORDER}, ${ROUNDS} rounds x ${stamps.length} stamps x ${STAMP} calls`,
);
bench(`ang2pixNest (order ${ORDER})`, (ra, dec) => ang2pixNest(ORDER, ra, dec));
bench("ang2pixNest (order 24)", (ra, dec) => ang2pixNest(24, ra, dec));
bench(`ang2xyfFracInto (order ${ORDER})`, (ra, dec) => ang2xyfFracInto(ORDER, ra, dec, out).x);
bench("ang2pixNestBig (order 29)", (ra, dec) => ang2pixNestBig(29, ra, dec));
