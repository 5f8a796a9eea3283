import { readCatalog } from "../../catalog/read-catalog.js";
import { ExitCode } from "../../errors.js";
import { createHttpClient } from "../../fetch/http-client.js";
import { ImageIndexStore } from "../../ledger/image-index.js";
import { dryRunPlan, tsvField, where } from "../../plan/plan-job.js";
import { shardEvents } from "../../plan/shard.js";
import { loadCoverage } from "../../sources/coverage.js";
import { createSource } from "../../sources/create-source.js";
import { isProducer, type SharedGet } from "../../sources/source.js";
import { userAgent } from "../../version.js";
import { jobSpecFrom, runConfigFrom } from "../config.js";
import type { OptionsOf } from "../options.js";

/** Largest metadata body a dry run reads (a survey's MOC can be a few MB). */
const DRY_RUN_MAX_BYTES = 64 * 2 ** 20;

/**
 * `plan --dry-run`: every request on stdout (TSV, or JSON lines), without a ledger. A producing source
 * reads its metadata (HiPS properties: from disk for local HiPS, one GET per remote one) and every job its
 * coverage maps (one GET per remote MOC); nothing else touches the network. Tasks outside a MOC are
 * printed as `no_coverage: ...`, and counted on stderr.
 */
export async function dryRun(catalog: string, o: OptionsOf<"plan">): Promise<ExitCode> {
  const spec = jobSpecFrom(catalog, o);
  const source = createSource(spec.source);
  const client = createHttpClient({
    userAgent: userAgent(),
    timeoutMs: 60_000,
    maxBytes: DRY_RUN_MAX_BYTES,
    maxRedirects: 5,
  });
  const get: SharedGet = async (url, signal) => {
    const res = await client.get(url, { signal });
    if (res.status === 404) return null;
    if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status}`);
    return res.body;
  };
  const signal = new AbortController().signal;
  let coverage: Awaited<ReturnType<typeof loadCoverage>>;
  try {
    if (isProducer(source)) {
      await source.prepare(get, signal, {
        imageIndex: ImageIndexStore.inMemory(),
        info: (m) => process.stderr.write(`${m}\n`),
      });
    }
    coverage = await loadCoverage(spec.source, source.bands, get, signal);
  } finally {
    await client.close();
  }
  for (const n of coverage.notes) process.stderr.write(`warning: ${n}\n`);
  const rate = runConfigFrom(o).ratePerSec;
  const modes = isProducer(source) ? source.modeComparison?.(rate) : undefined;
  const cat = await readCatalog(spec.catalog.path, spec.catalog);
  // The same targets a real `plan --shard i/n` would put in its ledger (bad rows: shard 0 only).
  const events = spec.shard === undefined ? cat.events : shardEvents(cat.events, spec.shard);
  let skipped = 0;
  let targets = 0;
  let tasksOut = 0;
  let targetsOut = 0;
  let lastRow = -1;
  let outHere = 0;
  const closeTarget = (): void => {
    if (lastRow >= 0 && outHere === source.bands.length) targetsOut++;
  };
  for await (const r of dryRunPlan(
    source,
    spec.layout,
    events,
    (s) => {
      skipped++;
      process.stderr.write(`catalog ${where(s)}: ${s.message}; skipped\n`);
    },
    coverage.any ? (t, b) => coverage.outside(t, b) : undefined,
  )) {
    if (r.row !== lastRow) {
      closeTarget();
      lastRow = r.row;
      outHere = 0;
      targets++;
      modes?.add(r.target);
    }
    if (r.skipped !== undefined) {
      tasksOut++;
      outHere++;
    }
    process.stdout.write(
      o.json === true
        ? `${JSON.stringify({ row: r.row, id: r.id, band: r.band, url: r.what, out: r.out, ...(r.skipped === undefined ? {} : { skipped: r.skipped }) })}\n`
        : `${r.band}\t${tsvField(r.id)}\t${r.what}\t${r.out}\n`,
    );
  }
  closeTarget();
  if (coverage.any) {
    process.stderr.write(
      `coverage: ${targetsOut} of ${targets} target(s) outside the survey's MOC in every band, ` +
        `${tasksOut} task(s) never asked (MOC: ${[...new Set(coverage.sources.values())].join(", ")})\n`,
    );
  }
  for (const line of modes?.lines() ?? []) process.stderr.write(`${line}\n`);
  return skipped > 0 && o.strict === true ? ExitCode.Input : ExitCode.Ok;
}
