import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { readCatalog } from "../../src/catalog/read-catalog.js";

const ROWS = 1_000_000;
let dir: string;
let path: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "vocut-catalog-"));
  path = join(dir, "big.csv");
  const out = createWriteStream(path);
  out.write("id,ra,dec,mag\n");
  let chunk = "";
  for (let i = 1; i <= ROWS; i++) {
    chunk += `obj${i},${(i % 36000) / 100},${((i % 18000) - 9000) / 100},${i % 20}\n`;
    if (chunk.length > 1 << 16) {
      if (!out.write(chunk)) await once(out, "drain");
      chunk = "";
    }
  }
  out.end(chunk);
  await once(out, "finish");
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// Memory, not speed: the heap must not grow with the number of rows (a retained Target is ~100 B, so
// holding them all would take well over 100 MB).
it("streams a 1,000,000-row CSV in bounded memory", async () => {
  const before = process.memoryUsage().heapUsed;
  let peak = before;
  let targets = 0;
  let bad = 0;
  let lastId = "";
  const cat = await readCatalog(path, {});
  for await (const e of cat.events) {
    if (e.kind === "target") {
      targets++;
      lastId = e.target.id;
    } else bad++;
    if ((targets & 0xffff) === 0) peak = Math.max(peak, process.memoryUsage().heapUsed);
  }
  expect(targets).toBe(ROWS);
  expect(bad).toBe(0);
  expect(lastId).toBe(`obj${ROWS}`);
  expect(peak - before).toBeLessThan(100 * 1024 * 1024);
}, 30_000);
