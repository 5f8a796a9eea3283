import { Command } from "commander";
import { readCatalog } from "../../catalog/read-catalog.js";
import { ExitCode } from "../../errors.js";
import { createHttpClient } from "../../fetch/http-client.js";
import { ImageIndexStore } from "../../ledger/image-index.js";
import { dryRunPlan, tsvField, where } from "../../plan/plan-job.js";
import { shardEvents } from "../../plan/shard.js";
import { createSource } from "../../sources/create-source.js";
import { isProducer, type ProducerSource } from "../../sources/source.js";
import { userAgent } from "../../version.js";
import { jobSpecFrom } from "../config.js";
import { planAndMaybeFetch } from "../execute.js";
import { addTableOptions, type OptionsOf } from "../options.js";

/** `vocut run CATALOG --out DIR ...`: plan into the ledger and fetch; the same command again resumes. */
export function runCommand(setExit: (code: ExitCode) => void, exitHelp: string): Command {
  const cmd = new Command("run")
    .description("plan a catalog into the ledger and fetch every cutout; the same command again resumes")
    .argument("<catalog>", "CSV/TSV, VOTable or FITS table with RA/Dec columns");
  return addTableOptions(cmd, "run")
    .addHelpText("after", exitHelp)
    .action(async (catalog: string, o: OptionsOf<"run">) =>
      setExit(await planAndMaybeFetch(catalog, o, true)),
    );
}

/** `vocut plan CATALOG --out DIR`: plan only; `--dry-run` prints every request and touches nothing. */
export function planCommand(setExit: (code: ExitCode) => void): Command {
  const cmd = new Command("plan")
    .description("plan only: write the tasks into the ledger; --dry-run prints every request without any I/O")
    .argument("<catalog>", "CSV/TSV, VOTable or FITS table");
  return addTableOptions(cmd, "plan").action(async (catalog: string, o: OptionsOf<"plan">) => {
    if (o.dryRun === true) setExit(await dryRun(catalog, o));
    else setExit(await planAndMaybeFetch(catalog, o, false));
  });
}

/** Print every request the job would make (TSV, or JSON lines with --json); no ledger, no output. */
async function dryRun(catalog: string, o: OptionsOf<"plan">): Promise<ExitCode> {
  const spec = jobSpecFrom(catalog, o);
  const source = createSource(spec.source);
  if (isProducer(source)) await prepareForDryRun(source);
  const cat = await readCatalog(spec.catalog.path, spec.catalog);
  // The same targets a real `plan --shard i/n` would put in its ledger (bad rows: shard 0 only).
  const events = spec.shard === undefined ? cat.events : shardEvents(cat.events, spec.shard);
  let skipped = 0;
  for await (const r of dryRunPlan(source, spec.layout, events, (s) => {
    skipped++;
    process.stderr.write(`catalog ${where(s)}: ${s.message}; skipped\n`);
  })) {
    process.stdout.write(
      o.json === true
        ? `${JSON.stringify({ row: r.row, id: r.id, band: r.band, url: r.what, out: r.out })}\n`
        : `${r.band}\t${tsvField(r.id)}\t${r.what}\t${r.out}\n`,
    );
  }
  return skipped > 0 && o.strict === true ? ExitCode.Input : ExitCode.Ok;
}

/**
 * A dry run of a producing source needs its metadata (HiPS properties): read from disk for local HiPS,
 * or one GET per remote HiPS. Nothing else touches the network.
 */
async function prepareForDryRun(source: ProducerSource): Promise<void> {
  const client = createHttpClient({
    userAgent: userAgent(),
    timeoutMs: 60_000,
    maxBytes: 2 ** 20,
    maxRedirects: 5,
  });
  try {
    await source.prepare(
      async (url, signal) => {
        const res = await client.get(url, { signal });
        if (res.status === 404) return null;
        if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status}`);
        return res.body;
      },
      new AbortController().signal,
      { imageIndex: ImageIndexStore.inMemory(), info: (m) => process.stderr.write(`${m}\n`) },
    );
  } finally {
    await client.close();
  }
}
