import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { Command } from "commander";
import { type ProductListOptions, readProductList } from "../../catalog/product-list.js";
import { ExitCode, usageError } from "../../errors.js";
import { realClock } from "../../fetch/clock.js";
import { DEFAULTS } from "../../fetch/defaults.js";
import { createHttpClient } from "../../fetch/http-client.js";
import { Ledger } from "../../ledger/ledger.js";
import type { JobSpec } from "../../plan/job-spec.js";
import { checkLayout } from "../../plan/layout.js";
import {
  type CostSummary,
  costFromVotable,
  costOfList,
  DESCRIBE_ADQL,
  dryRunAdql,
  formatCost,
} from "../../sources/products/cost.js";
import type { ProductsConfig, TapQuery } from "../../sources/products/products-source.js";
import { ensureQueryResult, runSmallQuery } from "../../sources/products/query-result.js";
import { resultFileName, tapQuery } from "../../sources/products/tap.js";
import type { UwsJobStore } from "../../sources/products/uws.js";
import { userAgent } from "../../version.js";
import { ledgerPath, runConfigFrom, storeSpec } from "../config.js";
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
    .argument(
      "[list]",
      "VOTable, CSV/TSV, ECSV or FITS table with an access_url column (instead of --tap/--query)",
    );
  addTableOptions(cmd, "obscore");
  cmd.action(async (list: string | undefined, o: ObscoreOptions) => setExit(await obscore(list, o)));
  return cmd;
}

async function obscore(list: string | undefined, o: ObscoreOptions): Promise<ExitCode> {
  if (o.describe === true || o.dryRun === true) return whatItCosts(list, o);
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
    await queryStep(o, run, query, out, listPath);
  }
  if (!run.quiet && !run.json && listPath !== undefined) {
    // What the job will cost, counted from the list it is planned from (issue 13: "and plan").
    const input = await readProductList(listPath, productListOptions(o, query !== undefined));
    for (const line of formatCost(await costOfList(input.events), run.ratePerSec))
      process.stderr.write(`${line}\n`);
  }
  const source: ProductsConfig = query === undefined ? { kind: "products" } : { kind: "products", query };
  const spec: JobSpec = {
    source,
    layout: o.layout,
    catalog: { path: listPath as string, ...productListOptions(o, query !== undefined) },
    ...storeSpec(o.store),
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

/**
 * Get the query's result into OUT (sync, or async with the job URL in the ledger's meta "tapJob" so a
 * killed run polls the same job), printing progress through the reporter.
 */
async function queryStep(
  o: ObscoreOptions,
  run: ReturnType<typeof runConfigFrom>,
  query: TapQuery,
  out: string,
  listPath: string,
): Promise<void> {
  const reporter = new Reporter({ quiet: run.quiet, json: run.json });
  const client = createHttpClient({
    userAgent: userAgent(run.contact),
    timeoutMs: run.timeoutMs,
    maxBytes: run.maxBytes ?? DEFAULTS.tapResultMaxBytes,
    maxRedirects: DEFAULTS.maxRedirects,
    ...(run.credentials === undefined ? {} : { credentials: run.credentials }),
  });
  let ledger: Ledger | undefined;
  try {
    let store: UwsJobStore | undefined;
    if (o.async === true) {
      const file = ledgerPath(o.ledger, out);
      mkdirSync(dirname(resolve(file)), { recursive: true });
      ledger = Ledger.open(file, { create: true, journal: run.ledgerJournal });
      store = ledgerJobStore(ledger, resultFileName(query));
    }
    await ensureQueryResult({
      client,
      query,
      listPath,
      outDir: out,
      clock: realClock,
      signal: new AbortController().signal,
      retries: run.retries,
      ...(store === undefined
        ? {}
        : {
            async: {
              store,
              waitSec: uwsWaitSec(run.timeoutMs),
              budgetMs: seconds("--job-wait", o.jobWait) * 1000,
            },
          }),
      info: (line) => reporter.info(line),
    });
  } finally {
    ledger?.close();
    await client.close();
    reporter.stop();
  }
}

/** The async job of this query in the ledger's meta table (another query's job is not this one's). */
function ledgerJobStore(ledger: Ledger, queryKey: string): UwsJobStore {
  return {
    get: () => {
      const j = ledger.getMeta<{ url: string; query: string }>("tapJob");
      return j?.query === queryKey ? j.url : undefined;
    },
    set: (url) => ledger.setMeta("tapJob", { url, query: queryKey }),
    clear: () => ledger.setMeta("tapJob", null),
    // For `vocut status`: the phase last seen and when.
    seen: (phase) => {
      const j = ledger.getMeta<{ url: string; query: string }>("tapJob");
      if (j !== undefined && j !== null) ledger.setMeta("tapJob", { ...j, phase, at: realClock.now() });
    },
  };
}

/** WAIT per poll: DEFAULTS.uwsWaitSec, at most half the HTTP timeout so a blocking poll never times out. */
function uwsWaitSec(timeoutMs: number): number {
  return Math.max(1, Math.min(DEFAULTS.uwsWaitSec, Math.floor(timeoutMs / 2000)));
}

function seconds(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw usageError("BAD_OPTION", `${flag} ${v}: a number of seconds > 0`);
  return n;
}

function productListOptions(o: ObscoreOptions, remoteOnly: boolean): ProductListOptions {
  return {
    ...(o.urlCol === undefined ? {} : { urlCol: o.urlCol }),
    ...(o.idCol === undefined ? {} : { idCol: o.idCol }),
    ...(o.formatCol === undefined ? {} : { formatCol: o.formatCol }),
    ...(remoteOnly ? { remoteOnly: true } : {}),
  };
}

/**
 * `--describe` (the service's collections and product types) and `--dry-run` (what the query or list will
 * cost): ADQL aggregate queries on the service (async with --async), or a local count of a LIST. Prints
 * a table (or one JSON document with --json); downloads and writes nothing.
 */
async function whatItCosts(list: string | undefined, o: ObscoreOptions): Promise<ExitCode> {
  const run = runConfigFrom(o);
  let cost: CostSummary;
  if (o.describe === true || list === undefined) {
    if (o.tap === undefined)
      throw usageError("NO_SOURCE", "--describe and --dry-run need --tap URL (or a LIST for --dry-run)");
    if (o.describe !== true && o.query === undefined)
      throw usageError("NO_SOURCE", "--dry-run needs --query ADQL or a LIST");
    const adql = o.describe === true ? DESCRIBE_ADQL : dryRunAdql(o.query as string);
    const client = createHttpClient({
      userAgent: userAgent(run.contact),
      timeoutMs: run.timeoutMs,
      maxBytes: run.maxBytes ?? DEFAULTS.maxBytes,
      maxRedirects: DEFAULTS.maxRedirects,
      ...(run.credentials === undefined ? {} : { credentials: run.credentials }),
    });
    const reporter = new Reporter({ quiet: run.quiet, json: run.json });
    try {
      const body = await runSmallQuery({
        client,
        query: tapQuery(o.tap, adql, undefined),
        clock: realClock,
        signal: new AbortController().signal,
        retries: run.retries,
        ...(o.async === true
          ? {
              async: {
                waitSec: uwsWaitSec(run.timeoutMs),
                budgetMs: seconds("--job-wait", o.jobWait) * 1000,
              },
            }
          : {}),
        info: (line) => reporter.info(line),
      });
      cost = await costFromVotable(body);
    } finally {
      await client.close();
      reporter.stop();
    }
  } else {
    const input = await readProductList(resolve(list), productListOptions(o, false));
    cost = await costOfList(input.events);
  }
  const rate = o.describe === true ? undefined : run.ratePerSec;
  if (run.json) {
    process.stdout.write(
      `${JSON.stringify({ ...cost, ...(rate === undefined ? {} : { ratePerSec: rate, seconds: (cost.products ?? cost.rows) / rate }) })}\n`,
    );
  } else {
    for (const line of formatCost(cost, rate)) process.stdout.write(`${line}\n`);
    if (o.maxrec !== undefined && cost.rows > Number(o.maxrec)) {
      process.stdout.write(
        `note: --maxrec ${o.maxrec} cuts the result at ${o.maxrec} of these ${cost.rows} rows (OVERFLOW)\n`,
      );
    }
  }
  return ExitCode.Ok;
}
