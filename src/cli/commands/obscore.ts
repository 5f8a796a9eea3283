import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { Command } from "commander";
import { type ExitCode, usageError } from "../../errors.js";
import { DEFAULTS } from "../../fetch/defaults.js";
import { createHttpClient } from "../../fetch/http-client.js";
import { AtomicWriter } from "../../output/write-atomic.js";
import type { JobSpec } from "../../plan/job-spec.js";
import { checkLayout } from "../../plan/layout.js";
import type { ProductsConfig } from "../../sources/products/products-source.js";
import { resultFileName, runTapQuery, tapQuery } from "../../sources/products/tap.js";
import { userAgent } from "../../version.js";
import { ledgerPath, runConfigFrom } from "../config.js";
import { execute } from "../execute.js";
import { addTableOptions, type OptionsOf } from "../options.js";
import { Reporter } from "../reporter.js";

/** Flags of `vocut obscore` (COMMAND_OPTIONS.obscore). */
type ObscoreOptions = OptionsOf<"obscore">;

/**
 * `vocut obscore --tap URL --query ADQL --out DIR` or `vocut obscore LIST --out DIR`: download every
 * archive product of an ObsCore query (or of a VOTable/CSV of access URLs) through the same pool, ledger,
 * checks and resume as cutouts. The query result is kept in OUT, so a resumed job does not query again.
 */
export function obscoreCommand(setExit: (code: ExitCode) => void): Command {
  const cmd = new Command("obscore")
    .description(
      "download archive products: every row of an ObsCore TAP query (--tap, --query) or of a VOTable/CSV of access URLs",
    )
    .argument("[list]", "VOTable/CSV/TSV with an access_url column (instead of --tap/--query)");
  addTableOptions(cmd, "obscore");
  cmd.action(async (list: string | undefined, o: ObscoreOptions) => setExit(await obscore(list, o)));
  return cmd;
}

async function obscore(list: string | undefined, o: ObscoreOptions): Promise<ExitCode> {
  if (o.out === undefined || o.out === "") throw usageError("NO_OUT", "--out DIR is required");
  const out = resolve(o.out);
  const viaTap = o.tap !== undefined || o.query !== undefined;
  if (viaTap === (list !== undefined)) {
    throw usageError("NO_SOURCE", "give either --tap URL --query ADQL, or a LIST file of access URLs");
  }
  if (viaTap && (o.tap === undefined || o.query === undefined)) {
    throw usageError("NO_SOURCE", "--tap and --query go together");
  }
  checkLayout(o.layout, 1);
  const run = runConfigFrom(o);
  const query = viaTap ? tapQuery(o.tap as string, o.query as string, o.maxrec) : undefined;
  let listPath = list === undefined ? undefined : resolve(list);
  if (query !== undefined) {
    listPath = join(out, resultFileName(query));
    const reporter = new Reporter({ quiet: run.quiet, json: run.json });
    if (existsSync(listPath)) {
      reporter.info(`using the stored query result ${listPath} (no new query)`);
      reporter.stop();
    } else {
      const client = createHttpClient({
        userAgent: userAgent(run.contact),
        timeoutMs: run.timeoutMs,
        maxBytes: run.maxBytes ?? DEFAULTS.maxBytes,
        maxRedirects: DEFAULTS.maxRedirects,
        ...(run.credentials === undefined ? {} : { credentials: run.credentials }),
      });
      try {
        const body = await runTapQuery(client, query, {
          retries: run.retries,
          signal: new AbortController().signal,
          sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
        });
        // Not prepare(): that clears temp files, which only the ledger's lock holder may do.
        const writer = new AtomicWriter(out);
        mkdirSync(writer.tempDir, { recursive: true });
        await writer.write(listPath, body);
        writer.syncDirs();
        reporter.info(`TAP query answered ${body.length} bytes; kept in ${listPath}`);
      } finally {
        await client.close();
        reporter.stop();
      }
    }
  }
  const source: ProductsConfig = query === undefined ? { kind: "products" } : { kind: "products", query };
  const spec: JobSpec = {
    source,
    layout: o.layout,
    catalog: {
      path: listPath as string,
      ...(o.urlCol === undefined ? {} : { urlCol: o.urlCol }),
      ...(o.idCol === undefined ? {} : { idCol: o.idCol }),
      ...(o.formatCol === undefined ? {} : { formatCol: o.formatCol }),
      ...(query === undefined ? {} : { remoteOnly: true }),
    },
  };
  return execute({
    spec,
    ledgerFile: ledgerPath(o.ledger, out),
    outDir: out,
    plan: true,
    fetch: true,
    strict: o.strict === true,
    run,
  });
}
