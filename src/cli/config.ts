import { existsSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { CatalogOptions } from "../catalog/types.js";
import { usageError } from "../errors.js";
import { Credentials, type NetrcEntry, NetrcError, parseNetrc } from "../fetch/credentials.js";
import { parseLedgerJournal } from "../ledger/journal.js";
import { STORE_KINDS, type StoreKind } from "../output/store.js";
import type { JobSpec } from "../plan/job-spec.js";
import { checkLayout } from "../plan/layout.js";
import { parseShard, type Shard, shardForOut, shardLabel } from "../plan/shard.js";
import { expandPreset } from "../presets/expand.js";
import type { RunSettings } from "../run/run-settings.js";
import { MOCSERVER_URL, mocServerUrl } from "../sources/coverage.js";
import type { CutoutSourceConfig } from "../sources/create-source.js";
import { parsePixscale, parseSize } from "../sources/geometry.js";
import { parseHipsLocations } from "../sources/hips/hips-source.js";
import { HIPS2FITS_MIRROR_URL, HIPS2FITS_URL, parseHipsList } from "../sources/hips2fits/hips2fits-source.js";
import { hips2fitsImageFrom } from "../sources/hips2fits/image-format.js";
import { imagesConfigFrom } from "../sources/images/images-source.js";
import type { SiaBand } from "../sources/sia/query.js";
import type { SiaConfig } from "../sources/sia/sia-source.js";
import { defaultsOf, type OptionValues } from "./option-spec.js";
import { DEFAULT_PIXSCALE, DEFAULT_SIZE, inGroup, OPTION, type OptionsOf } from "./options.js";

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

/**
 * Build the job's source configuration from `--preset`, `--hips2fits`, `--hips` or `--url`. A preset is
 * expanded into those flags first (src/presets/expand.ts); size and pixel scale come from the flag, else
 * the preset, else DEFAULT_SIZE/DEFAULT_PIXSCALE. Throws a usage error.
 */
export function sourceConfigFrom(raw: JobFlags): CutoutSourceConfig {
  const expansion = expandPreset(raw);
  const o: JobFlags = expansion === undefined ? raw : { ...raw, ...expansion };
  const { widthPx, heightPx } = parseSize(o.size ?? DEFAULT_SIZE);
  const geometry = { widthPx, heightPx, pixscaleArcsec: parsePixscale(o.pixscale ?? DEFAULT_PIXSCALE) };
  const given = [o.hips2fits, o.url, o.hips, o.sia, o.images].filter((v) => v !== undefined).length;
  if (given !== 1) {
    throw usageError(
      "NO_SOURCE",
      "give exactly one source: --preset NAME, --hips2fits IDS, --hips URL|DIR, --sia URL, --url TEMPLATE --bands LIST, or --images DIR",
    );
  }
  const imageFlags = [o.stretch, o.minCut, o.maxCut, o.cmap].some((v) => v !== undefined);
  if (o.hips2fits === undefined && imageFlags) {
    throw usageError(
      "BAD_OPTION",
      "--stretch, --min-cut, --max-cut and --cmap are hips2fits parameters (--hips2fits)",
    );
  }
  if (o.hips2fits === undefined && o.hips === undefined && o.format !== undefined && o.format !== "fits") {
    throw usageError("BAD_FORMAT", `--format ${o.format}: this source gives FITS stamps only`);
  }
  if (o.grid !== "hips2fits" && o.grid !== "centred")
    throw usageError("BAD_OPTION", `--grid ${o.grid}: hips2fits or centred`);
  if (o.grid !== "hips2fits" && o.hips === undefined)
    throw usageError(
      "BAD_OPTION",
      `--grid ${o.grid} applies to --hips only: the other sources keep their service's grid`,
    );
  if (o.sia !== undefined) return { ...siaConfigFrom(o, geometry), ...mocFrom(o, undefined) };
  if (o.images !== undefined) {
    if (o.moc !== undefined)
      throw usageError("BAD_MOC", "--moc does not apply to --images: the images are the coverage");
    if (o.pixscale !== undefined)
      throw usageError(
        "BAD_OPTION",
        "--pixscale does not apply to --images: stamps keep the images' own pixels",
      );
    return imagesConfigFrom({ ...o, images: o.images, widthPx, heightPx });
  }
  if (o.hips !== undefined) {
    if (o.interp !== "nearest" && o.interp !== "bilinear")
      throw usageError("BAD_OPTION", `--interp ${o.interp}: nearest or bilinear`);
    if (o.format !== undefined && o.format !== "fits" && o.format !== "png") {
      throw usageError("BAD_FORMAT", `--format ${o.format}: --hips writes fits or png stamps`);
    }
    const hips = parseHipsLocations(o.hips);
    return {
      kind: "hips",
      hips,
      geometry,
      interp: o.interp,
      grid: o.grid,
      ...(o.format === "fits" || o.format === "png" ? { format: o.format } : {}),
      ...mocFrom(o, hips),
    };
  }

  if (o.hips2fits !== undefined) {
    if (o.coordsys !== "icrs" && o.coordsys !== "galactic") {
      throw usageError("BAD_OPTION", `--coordsys ${o.coordsys}: icrs or galactic`);
    }
    const rotation = Number(o.rotation);
    if (!Number.isFinite(rotation)) throw usageError("BAD_OPTION", `--rotation ${o.rotation}: degrees`);
    const endpoints =
      o.hips2fitsUrl === undefined
        ? [HIPS2FITS_URL, HIPS2FITS_MIRROR_URL]
        : o.hips2fitsUrl
            .split(",")
            .map((s) => s.trim())
            .filter((s) => s !== "");
    const hips = parseHipsList(o.hips2fits);
    return {
      kind: "hips2fits",
      endpoints,
      hips,
      geometry,
      projection: o.projection,
      coordsys: o.coordsys,
      rotationAngleDeg: rotation,
      ...hips2fitsImageFrom(o),
      ...mocFrom(o, hips),
    };
  }
  const bands = o.bands
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (bands.length === 0)
    throw usageError(
      "NO_BANDS",
      "--url needs --bands (e.g. --bands g,r,z; one label for a single-band service)",
    );
  if (new Set(bands).size !== bands.length) throw usageError("NO_BANDS", "--bands lists a band twice");
  return { kind: "template", template: o.url as string, bands, geometry, ...mocFrom(o, undefined) };
}

/**
 * `--moc FILE|URL|auto|none` as the job's coverage maps, one location per band (or one for all): a URL,
 * or a local file made absolute. `auto` asks the CDS MocServer for each --hips2fits survey's MOC (for
 * --hips it is the default: each survey's own Moc.fits); `none` turns the --hips default off. Throws a
 * usage error for a missing file or an `auto` that cannot apply.
 */
function mocFrom(
  o: JobFlags,
  hips: ReadonlyArray<{ label: string; hips?: string; location?: string }> | undefined,
): { moc?: readonly string[] } {
  const m = o.moc?.trim();
  if (m === undefined) return {};
  if (m === "none") return { moc: [] };
  if (m === "auto") {
    const ids = hips?.map((h) => h.hips);
    if (hips !== undefined && hips[0]?.location !== undefined) return {}; // --hips: the survey's Moc.fits
    if (ids === undefined || ids.some((id) => id === undefined))
      throw usageError(
        "BAD_MOC",
        "--moc auto needs --hips2fits (the MocServer knows HiPS IDs) or --hips; give --moc FILE|URL",
      );
    const base = o.mocserverUrl ?? MOCSERVER_URL;
    if (!/^https?:\/\//.test(base))
      throw usageError("BAD_MOC", `--mocserver-url ${JSON.stringify(base)}: an http(s) URL`);
    return { moc: (ids as string[]).map((id) => mocServerUrl(base, id)) };
  }
  if (/^https?:\/\//.test(m)) return { moc: [m] };
  const path = resolve(m.startsWith("file:") ? fileURLToPath(m) : m);
  if (!existsSync(path) || !statSync(path).isFile())
    throw usageError(
      "BAD_MOC",
      `--moc ${JSON.stringify(m)}: no such file (a MOC FITS file, a URL, auto or none)`,
    );
  return { moc: [path] };
}

/** `--sia URL` and its options into a SIA job configuration. Throws a usage error. */
function siaConfigFrom(o: JobFlags, geometry: SiaConfig["geometry"]): SiaConfig {
  const url = o.sia as string;
  if (!/^https?:\/\//.test(url)) throw usageError("BAD_SIA", `--sia ${JSON.stringify(url)}: an http(s) URL`);
  const version = o.siaVersion === "1" ? 1 : o.siaVersion === "2" ? 2 : undefined;
  if (version === undefined) throw usageError("BAD_OPTION", `--sia-version ${o.siaVersion}: 1 or 2`);
  const bands: SiaBand[] = [];
  for (const item of (o.band ?? "")
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "")) {
    const m = /^([A-Za-z0-9_.+-]+)=([-+0-9.eE]+):([-+0-9.eE]+)$/.exec(item);
    const lo = Number(m?.[2]);
    const hi = Number(m?.[3]);
    if (m === null || !(lo > 0) || !(hi > lo)) {
      throw usageError(
        "BAD_BAND",
        `--band ${JSON.stringify(item)}: label=lo:hi in metres, lo < hi (e.g. H=1.49e-6:1.78e-6)`,
      );
    }
    bands.push({ label: m[1] as string, loM: lo, hiM: hi });
  }
  for (const label of o.bands
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "")) {
    if (!bands.some((b) => b.label === label)) bands.push({ label });
  }
  if (new Set(bands.map((b) => b.label)).size !== bands.length)
    throw usageError("BAD_BAND", "a band is named twice");
  if (version === 2 && bands.some((b) => b.loM === undefined) && bands.length > 0 && o.band === undefined) {
    // SIA 2 answers (ObsCore) name no bandpass: a band needs its wavelength window.
    throw usageError("BAD_BAND", "--sia-version 2 selects bands by wavelength: give --band label=lo:hi,...");
  }
  const pick = o.pick;
  if (pick !== "margin" && pick !== "first")
    throw usageError("BAD_OPTION", `--pick ${pick}: margin or first`);
  let maxrec: number | undefined;
  if (o.maxrec !== undefined) {
    maxrec = Number(o.maxrec);
    if (!Number.isInteger(maxrec) || maxrec < 1)
      throw usageError("BAD_OPTION", `--maxrec ${o.maxrec}: a whole number >= 1`);
  }
  return {
    kind: "sia",
    version,
    url,
    bands,
    geometry,
    pick,
    partial: o.partial !== false,
    ...(o.collection === undefined ? {} : { collection: o.collection }),
    ...(maxrec === undefined ? {} : { maxrec }),
  };
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
