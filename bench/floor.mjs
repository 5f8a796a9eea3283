#!/usr/bin/env node
import { mkdirSync } from "node:fs";
// The bare-Node floor of fetching small files (issue 12): what Node itself costs per file, for the
// cost bench (bench/cost.mjs) to compare vocut with. undici request() on one keep-alive Agent, 16
// requests at a time, each body written to a temp file in OUT/.tmp and renamed to OUT/x/{id}.fits.
// No validation, no sha256, no ledger, no sync: less than vocut must do, so vocut / floor >= ~1.
// Usage: node bench/floor.mjs --base http://127.0.0.1:PORT --files 5000 --out DIR [--concurrency 16]
// fetches BASE/o0.fits .. BASE/o{files-1}.fits; exits 1 if any request did not answer 200.
import { open, rename } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Agent, request } from "undici";

const { values } = parseArgs({
  options: {
    base: { type: "string" },
    files: { type: "string", default: "5000" },
    out: { type: "string" },
    concurrency: { type: "string", default: "16" },
  },
});
if (values.base === undefined || values.out === undefined) {
  console.error("usage: node bench/floor.mjs --base URL --files N --out DIR [--concurrency C]");
  process.exit(2);
}
const n = Number(values.files);
const c = Number(values.concurrency);
const tmpDir = join(values.out, ".tmp");
const dir = join(values.out, "x");
mkdirSync(tmpDir, { recursive: true });
mkdirSync(dir, { recursive: true });
const agent = new Agent({ connections: c, keepAliveTimeout: 60_000 });

let next = 0;
let failed = 0;
async function worker() {
  while (next < n) {
    const i = next++;
    const res = await request(`${values.base}/o${i}.fits`, { dispatcher: agent });
    const chunks = [];
    for await (const chunk of res.body) chunks.push(chunk);
    if (res.statusCode !== 200) {
      failed++;
      continue;
    }
    const tmp = join(tmpDir, `o${i}.part`);
    const fh = await open(tmp, "w");
    await fh.writeFile(Buffer.concat(chunks));
    await fh.close();
    await rename(tmp, join(dir, `o${i}.fits`));
  }
}
await Promise.all(Array.from({ length: c }, worker));
await agent.close();
if (failed > 0) {
  console.error(`${failed} request(s) did not answer 200`);
  process.exit(1);
}
