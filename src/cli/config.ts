import { existsSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import type { CatalogOptions } from "../catalog/types.js";
import { usageError } from "../errors.js";
import { Credentials, type NetrcEntry, NetrcError, parseNetrc } from "../fetch/credentials.js";
import { parseLedgerJournal } from "../ledger/journal.js";
import { STORE_KINDS, type StoreKind } from "../output/store.js";
import type { JobSpec } from "../plan/job-spec.js";
import { checkLayout } from "../plan/layout.js";
import { parseShard, type Shard, shardForOut, shardLabel } from "../plan/shard.js";
import type { RunSettings } from "../run/run-settings.js";
import type { CutoutSourceConfig } from "../sources/create-source.js";
import { defaultsOf, type OptionValues } from "./option-spec.js";
import { inGroup, OPTION, type OptionsOf } from "./options.js";
import { sourceConfigFrom } from "./source-config.js";

/** The flags a job is planned from: those of `plan` (`run` has them all). */
export type JobFlags = OptionsOf<"plan">;

/** The rows runConfigFrom reads: politeness, credentials, reporting, --ledger-journal and --tar-size. */
const RUN_CONFIG_OPTIONS = [
  ...inGroup("politeness"),
  ...inGroup("credentials"),
  ...inGroup("reporting"),
  OPTION.ledgerJournal,
  OPTION.tarSize,
] as const;

/** Politeness and reporting flags; a command without some of them (plan, obscore) gets their table defaults. */
export type RunFlags = OptionValues<typeof RUN_CONFIG_OPTIONS>;

/** Default ledger file name inside the output folder. */
export const LEDGER_FILE = "vocut.db";

/** Politeness and reporting settings of one run, validated. Not part of the job: may change on resume. */
export interface RunConfig extends RunSettings {
  readonly quiet: boolean;
  readonly json: boolean;
}

function positive(flag: string, text: string, opts: { integer?: boolean; min?: number } = {}): number {
  const v = Number(text);
  const min = opts.min ?? Number.MIN_VALUE;
  if (!Number.isFinite(v) || v < min || (opts.integer === true && !Number.isInteger(v))) {
    throw usageError(
      "BAD_OPTION",
      `${flag} ${JSON.stringify(text)}: expected ${opts.integer ? "a whole number" : "a number"} >= ${opts.min ?? "> 0"}`,
    );
  }
  return v;
}

/**
 * Validate politeness/reporting flags into a frozen RunConfig; a flag the command does not offer takes
 * its table default. Throws a usage error (exit 2).
 */
export function runConfigFrom(
  given: Partial<RunFlags>,
  env: NodeJS.ProcessEnv = process.env,
  home: string = homedir(),
): RunConfig {
  const o: RunFlags = { ...defaultsOf(RUN_CONFIG_OPTIONS), ...given };
  const credentials = credentialsFrom(o, env, home);
  const ratePerSec = positive("--rate", o.rate);
  // Default burst 1 (DEFAULTS.burst): requests leave evenly spaced, so a server enforcing exactly --rate
  // never sees two arrive early (bench: burst = rate drew a 429 at the start and cost 7% of the allowed rate).
  const burst = positive("--burst", o.burst, { integer: true, min: 1 });
  const cfg: RunConfig = {
    concurrency: positive("--concurrency", o.concurrency, { integer: true, min: 1 }),
    ratePerSec,
    burst,
    timeoutMs: positive("--timeout", o.timeout) * 1000,
    retries: positive("--retries", o.retries, { integer: true, min: 0 }),
    breakerFailures: positive("--pause-after", o.pauseAfter, { integer: true, min: 1 }),
    breakerPauseMs: positive("--pause", o.pause, { min: 0 }) * 1000,
    breakerMaxOpens: positive("--give-up-after", o.giveUpAfter, { integer: true, min: 1 }),
    quiet: o.quiet === true,
    tileCacheBytes: positive("--tile-cache-mb", o.tileCacheMb) * 2 ** 20,
    cacheBytes: positive("--cache-gb", o.cacheGb) * 2 ** 30,
    json: o.json === true,
    ledgerJournal: parseLedgerJournal(o.ledgerJournal),
    tarBytes: Math.round(positive("--tar-size", o.tarSize, { min: 1 }) * 2 ** 20),
    ...(o.maxDuration === undefined
      ? {}
      : { maxDurationMs: positive("--max-duration", o.maxDuration) * 1000 }),
    ...stallTimeoutFrom(o.stallTimeout),
    ...(credentials === undefined ? {} : { credentials }),
    ...(o.contact === undefined ? {} : { contact: o.contact }),
    ...(o.maxBytes === undefined
      ? {}
      : { maxBytes: positive("--max-bytes", o.maxBytes, { integer: true, min: 2880 }) }),
  };
  return Object.freeze(cfg);
}

/**
 * `--netrc [FILE]`, `--token-env VAR` and `--auth-host` into the run's Credentials (undefined when none):
 * the file is read and the variable looked up now, once. `--netrc` alone reads $NETRC, else ~/.netrc, as
 * curl does. Errors are usage errors (exit 2) that name the file or the variable, never a value in them.
 */
export function credentialsFrom(
  o: Pick<RunFlags, "netrc" | "tokenEnv" | "authHost">,
  env: NodeJS.ProcessEnv,
  home: string,
): Credentials | undefined {
  let netrc: NetrcEntry[] | undefined;
  if (o.netrc !== undefined && o.netrc !== false) {
    const file = typeof o.netrc === "string" ? o.netrc : (env.NETRC ?? join(home, ".netrc"));
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw usageError(
        "BAD_NETRC",
        `--netrc: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? "error"})`,
      );
    }
    try {
      netrc = parseNetrc(text);
    } catch (err) {
      if (err instanceof NetrcError) throw usageError("BAD_NETRC", `--netrc ${file}: ${err.message}`);
      throw err;
    }
  }
  let token: string | undefined;
  if (o.tokenEnv !== undefined) {
    const name = o.tokenEnv;
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      throw usageError(
        "BAD_TOKEN",
        `--token-env ${JSON.stringify(name)}: the NAME of an environment variable (e.g. --token-env ESO_TOKEN)`,
      );
    token = env[name]?.trim();
    if (token === undefined || token === "")
      throw usageError(
        "BAD_TOKEN",
        `--token-env ${name}: the environment variable ${name} is not set or empty`,
      );
    if (!/^[\x21-\x7e]+$/.test(token))
      throw usageError(
        "BAD_TOKEN",
        `--token-env ${name}: the value of ${name} is not a token (printable ASCII without spaces)`,
      );
  }
  const authHosts = (o.authHost ?? "")
    .split(",")
    .map((h) => h.trim())
    .filter((h) => h !== "");
  if (netrc === undefined && token === undefined) {
    if (authHosts.length > 0) throw usageError("BAD_OPTION", "--auth-host needs --token-env or --netrc");
    return undefined;
  }
  for (const h of authHosts)
    if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-fA-F:.]+\](:\d{1,5})?$/.test(h))
      throw usageError("BAD_OPTION", `--auth-host ${JSON.stringify(h)}: a host name, or name:port`);
  return new Credentials({
    ...(netrc === undefined ? {} : { netrc }),
    ...(token === undefined ? {} : { token }),
    authHosts,
  });
}

/** `--stall-timeout`: 0 turns the watchdog off. */
function stallTimeoutFrom(text: string): { stallTimeoutMs?: number } {
  const ms = parseDurationMs("--stall-timeout", text, "m");
  return ms === 0 ? {} : { stallTimeoutMs: ms };
}

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000 } as const;

/**
 * A duration flag: a number >= 0 in `unit`, or with its own unit: `90s`, `10m`, `1.5h`. Throws a usage
 * error (exit 2) naming the flag for anything else (negative, NaN, unknown unit, empty).
 */
export function parseDurationMs(flag: string, text: string, unit: keyof typeof UNIT_MS): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(s|m|h)?\s*$/.exec(text);
  const ms =
    m === null ? Number.NaN : Number(m[1]) * UNIT_MS[(m[2] as keyof typeof UNIT_MS | undefined) ?? unit];
  if (!Number.isFinite(ms) || ms > 2 ** 31 - 1) {
    throw usageError(
      "BAD_OPTION",
      `${flag} ${JSON.stringify(text)}: expected a duration >= 0 in ${unit === "m" ? "minutes" : unit === "s" ? "seconds" : "hours"}, or with a unit (90s, 10m, 1h)`,
    );
  }
  return Math.round(ms);
}

/** `--store`: files or tar (undefined when not given). Throws a usage error. */
export function storeFrom(text: string | undefined): StoreKind | undefined {
  if (text === undefined || (STORE_KINDS as readonly string[]).includes(text)) return text as StoreKind;
  throw usageError("BAD_OPTION", `--store ${JSON.stringify(text)}: ${STORE_KINDS.join(" or ")}`);
}

/** The job spec's store field: present only for a tar store (a files job's spec is as before issue 12). */
export function storeSpec(text: string | undefined): { store?: "tar" } {
  return storeFrom(text) === "tar" ? { store: "tar" } : {};
}

/** Catalog reading options from flags. */
export function catalogOptionsFrom(o: JobFlags): CatalogOptions {
  const fmt = o.catalogFormat;
  if (fmt !== undefined && !["csv", "tsv", "votable", "fits", "ecsv"].includes(fmt)) {
    throw usageError("BAD_OPTION", `--catalog-format ${fmt}: csv, tsv, ecsv, votable or fits`);
  }
  return {
    ...(o.raCol === undefined ? {} : { raCol: o.raCol }),
    ...(o.decCol === undefined ? {} : { decCol: o.decCol }),
    ...(o.idCol === undefined ? {} : { idCol: o.idCol }),
    ...(fmt === undefined ? {} : { format: fmt as NonNullable<CatalogOptions["format"]> }),
  };
}

/** The full job spec of `run`/`plan` from the catalog path and flags. */
export function jobSpecFrom(
  catalogPath: string,
  o: JobFlags,
  bandCount?: number,
): JobSpec & { readonly source: CutoutSourceConfig } {
  const source = sourceConfigFrom(o);
  const bands =
    source.kind === "template" || source.kind === "images"
      ? source.bands.length
      : source.kind === "sia"
        ? Math.max(1, source.bands.length)
        : source.hips.length;
  checkLayout(o.layout, bandCount ?? bands);
  return {
    source,
    layout: o.layout,
    catalog: { path: resolve(catalogPath), ...catalogOptionsFrom(o) },
    ...storeSpec(o.store),
    // With an output folder, the shard count must match the split already there (a dry run only reads it).
    ...(o.shard === undefined
      ? {}
      : {
          shard:
            o.out === undefined || o.out === ""
              ? parseShard(o.shard, process.env)
              : shardForOut(o.shard, o.out, { env: process.env, write: o.dryRun !== true }),
        }),
  };
}

/**
 * Where the ledger is: `--ledger`, else OUT/vocut.db; for commands taking [LEDGER], a folder means
 * FOLDER/vocut.db and nothing means ./vocut.db.
 */
export function ledgerPath(arg: string | undefined, out?: string, shard?: Shard): string {
  if (arg !== undefined) {
    if (existsSync(arg) && statSync(arg).isDirectory()) return join(arg, LEDGER_FILE);
    return arg;
  }
  if (out !== undefined)
    return join(out, shard === undefined ? LEDGER_FILE : `vocut.${shardLabel(shard)}.db`);
  return LEDGER_FILE;
}

/**
 * The ledger of a command that reads a job: the [ledger] argument or `--ledger` (either names a file or
 * an output folder, as for `run`), else ./vocut.db. Both given and naming different files is a usage
 * error (exit 2) rather than a silent choice.
 */
export function jobLedgerPath(arg: string | undefined, flag: string | undefined): string {
  if (arg !== undefined && flag !== undefined && resolve(ledgerPath(arg)) !== resolve(ledgerPath(flag))) {
    throw usageError(
      "TWO_LEDGERS",
      `two ledgers given: ${JSON.stringify(arg)} and --ledger ${JSON.stringify(flag)}; give one`,
    );
  }
  return ledgerPath(flag ?? arg);
}
