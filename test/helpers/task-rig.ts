import { join } from "node:path";
import { Ledger } from "../../src/ledger/ledger.js";
import { AtomicWriter } from "../../src/output/write-atomic.js";
import { Hips2fitsSource, parseHipsList } from "../../src/sources/hips2fits/hips2fits-source.js";

/**
 * A job planned straight into a ledger, for tests that drive runTasks themselves: n targets x 2 bands
 * (X/g, X/r) of 8x8 stamps against the hips2fits server at `serverUrl`, with OUT = dir/out and its
 * writer prepared.
 */
export function plannedHips2fitsJob(
  dir: string,
  serverUrl: string,
  n: number,
  writerOptions: ConstructorParameters<typeof AtomicWriter>[1] = {},
): { out: string; writer: AtomicWriter; ledger: Ledger; source: Hips2fitsSource } {
  const out = join(dir, "out");
  const writer = new AtomicWriter(out, writerOptions);
  const ledger = Ledger.open(join(out, "vocut.db"), { create: true });
  writer.prepare();
  const source = new Hips2fitsSource({
    kind: "hips2fits",
    endpoints: [serverUrl],
    hips: parseHipsList("X/g,X/r"),
    geometry: { widthPx: 8, heightPx: 8, pixscaleArcsec: 1 },
    projection: "TAN",
    coordsys: "icrs",
    rotationAngleDeg: 0,
  });
  ledger.transaction(() => {
    for (let i = 1; i <= n; i++)
      ledger.addTarget({ row: i, id: `t${i}`, safeId: `t${i}`, raDeg: 10 + i / 100, decDeg: 20 }, 2);
  });
  return { out, writer, ledger, source };
}
