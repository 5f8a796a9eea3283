#!/usr/bin/env node
// SIA benchmark (issue 6, part 8). Prints figures; asserts nothing.
// 10,000 targets over 20 survey images (1000 x 1000 px, 0.4"/px, TAN, a 5 x 4 mosaic with overlaps)
// served by a local SIA 1.0 service. vocut asks one query per target and fetches each image once,
// cutting every stamp locally; the naive way (the seed's) downloads the whole image for every target.
// Build first (npm run build). Usage: node bench/sia.mjs [targets]
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { encodeImage } from "../dist/fits/image.js";
import { tanPixelToWorld, tanWorldToPixel } from "../dist/wcs/tan-header.js";

const ROOT = resolve(import.meta.dirname, "..");
const CLI = join(ROOT, "dist/cli/index.js");
const N = Number(process.argv[2] ?? 10_000);
const SIDE = 1000;
const SCALE = 0.4 / 3600;
const work = mkdtempSync(join(tmpdir(), "vocut-sia-bench-"));

// 5 x 4 images, centres 0.1 deg apart (each 0.111 deg wide: ~40 px overlaps).
const images = [];
for (let j = 0; j < 4; j++) {
  for (let i = 0; i < 5; i++) {
    images.push({
      name: `img${j}${i}`,
      wcs: {
        crval1: 180 + i * 0.1,
        crval2: j * 0.1,
        crpix1: SIDE / 2 + 0.5,
        crpix2: SIDE / 2 + 0.5,
        cd: [-SCALE, 0, 0, SCALE],
        lonpole: 180,
      },
    });
  }
}
const bodies = new Map();
for (const img of images) {
  const data = new Float32Array(SIDE * SIDE);
  for (let k = 0; k < data.length; k++) data[k] = k % 997;
  const w = img.wcs;
  bodies.set(
    img.name,
    encodeImage({
      bitpix: -32,
      shape: [SIDE, SIDE],
      data,
      cards: [
        { key: "CTYPE1", value: "RA---TAN" },
        { key: "CTYPE2", value: "DEC--TAN" },
        { key: "CRVAL1", value: w.crval1 },
        { key: "CRVAL2", value: w.crval2 },
        { key: "CRPIX1", value: w.crpix1 },
        { key: "CRPIX2", value: w.crpix2 },
        { key: "CD1_1", value: w.cd[0] },
        { key: "CD2_2", value: w.cd[3] },
      ],
    }),
  );
}
const imageBytes = bodies.get("img00").length;

const counts = { query: 0, image: 0, bytes: 0 };
const FIELDS = `<FIELD name="t" datatype="char" arraysize="*" ucd="VOX:Image_Title"/>
<FIELD name="naxis" datatype="int" arraysize="*" ucd="VOX:Image_Naxis"/>
<FIELD name="f" datatype="char" arraysize="*" ucd="VOX:Image_Format"/>
<FIELD name="crpix" datatype="double" arraysize="*" ucd="VOX:WCS_CoordRefPixel"/>
<FIELD name="crval" datatype="double" arraysize="*" ucd="VOX:WCS_CoordRefValue"/>
<FIELD name="cd" datatype="double" arraysize="*" ucd="VOX:WCS_CDMatrix"/>
<FIELD name="u" datatype="char" arraysize="*" ucd="VOX:Image_AccessReference"/>`;
const server = createServer((req, res) => {
  const u = new URL(req.url, "http://x");
  if (u.pathname.startsWith("/img/")) {
    const b = bodies.get(u.pathname.slice(5, -5));
    counts.image++;
    counts.bytes += b.length;
    res.writeHead(200, { "content-length": b.length }).end(b);
    return;
  }
  counts.query++;
  const [ra, dec] = u.searchParams.get("POS").split(",").map(Number);
  const rows = images
    .filter((img) => {
      const p = tanWorldToPixel(img.wcs, ra, dec);
      return p.x > 0.5 && p.y > 0.5 && p.x < SIDE + 0.5 && p.y < SIDE + 0.5;
    })
    .map(
      (img) =>
        `<TR><TD>${img.name}</TD><TD>${SIDE} ${SIDE}</TD><TD>image/fits</TD><TD>${img.wcs.crpix1} ${img.wcs.crpix2}</TD><TD>${img.wcs.crval1} ${img.wcs.crval2}</TD><TD>${img.wcs.cd.join(" ")}</TD><TD>http://${req.headers.host}/img/${img.name}.fits</TD></TR>`,
    )
    .join("");
  const body = `<?xml version="1.0"?><VOTABLE version="1.1"><RESOURCE><INFO name="QUERY_STATUS" value="OK"/><TABLE>${FIELDS}<DATA><TABLEDATA>${rows}</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>`;
  res.writeHead(200, { "content-type": "text/xml", "content-length": Buffer.byteLength(body) }).end(body);
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${server.address().port}`;

// Targets spread over the mosaic, 20 px inside its outer edges.
// mulberry32: 32-bit integer arithmetic, so no two targets share a position.
let seed = 12345;
const rnd = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
// RA grows to the left (east): the mosaic's low-RA corner is the last column's right edge.
const lo = tanPixelToWorld(images[0].wcs, SIDE - 20, 20);
const hi = tanPixelToWorld(images[images.length - 1].wcs, 20, SIDE - 20);
const lines = ["id,ra,dec"];
for (let k = 0; k < N; k++) {
  lines.push(
    `t${k},${(lo.raDeg + rnd() * (hi.raDeg - lo.raDeg)).toFixed(7)},${(lo.decDeg + rnd() * (hi.decDeg - lo.decDeg)).toFixed(7)}`,
  );
}
const cat = join(work, "targets.csv");
writeFileSync(cat, `${lines.join("\n")}\n`);
const out = join(work, "out");

const t0 = Date.now();
const r = await new Promise((done) => {
  const c = spawn(
    "/usr/bin/time",
    [
      "-f",
      "%e %U %S %M",
      process.execPath,
      CLI,
      "run",
      cat,
      "--out",
      out,
      "--sia",
      `${base}/sia`,
      "--sia-version",
      "1",
      "--size",
      "32",
      "--pixscale",
      "0.4",
      "--rate",
      "5000",
      "--concurrency",
      "16",
      "--quiet",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  c.stderr.on("data", (d) => {
    err += d;
  });
  c.on("close", (code) => done({ code, err }));
}).catch((e) => ({ code: -1, err: String(e) }));
const wall = (Date.now() - t0) / 1000;
server.close();
const timeLine = r.err.trim().split("\n").pop() ?? "";
const [, user, sys, rssKb] = timeLine.split(" ").map(Number);

console.log(
  `SIA benchmark: ${N} targets over ${images.length} images of ${SIDE}x${SIDE} px (${(imageBytes / 2 ** 20).toFixed(1)} MiB each); exit ${r.code}`,
);
console.log("");
console.log("| | requests | queries | image downloads | bytes downloaded | wall |");
console.log("|---|---:|---:|---:|---:|---:|");
console.log(
  `| vocut (query per target, each image once, cut locally) | ${counts.query + counts.image} | ${counts.query} | ${counts.image} | ${(counts.bytes / 2 ** 20).toFixed(0)} MiB | ${wall.toFixed(1)} s |`,
);
console.log(
  `| one full-image download per target (computed) | ${counts.query + N} | ${counts.query} | ${N} | ${((N * imageBytes) / 2 ** 30).toFixed(1)} GiB | - |`,
);
console.log("");
console.log(
  `vocut CPU: user ${user} s + sys ${sys} s (${(((user + sys) / N) * 1000).toFixed(2)} ms per stamp), peak RSS ${(rssKb / 1024).toFixed(0)} MiB; ${(N / wall).toFixed(0)} stamps/s`,
);
if (process.env.KEEP === undefined) rmSync(work, { recursive: true, force: true });
else console.log(work);
