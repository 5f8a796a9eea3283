import type { Command } from "commander";
import { DEFAULTS } from "../fetch/defaults.js";
import { PRODUCT_LAYOUT } from "../sources/products/products-source.js";
import { envHelp, type OptionSpec, type OptionValues, toOption } from "./option-spec.js";

// The option table (STYLE.md habit 8): one row per option of every command, and COMMAND_OPTIONS, the rows
// each command takes. How a row becomes a commander Option, its type and its repeat rule: option-spec.ts.

/**
 * Geometry defaults. They are not commander defaults: an absent flag stays undefined so that a --preset's
 * size and pixel scale can fill it in, and src/cli/config.ts applies these last (flag > preset > default).
 */
export const DEFAULT_SIZE = "28";
export const DEFAULT_PIXSCALE = "0.396";

/** Default of --tile-cache-mb: decoded HiPS tiles or images kept in memory, MiB. */
export const DEFAULT_TILE_CACHE_MB = 256;
/** Default of --cache-gb: shared downloads kept in OUT/.vocut-cache, GiB. */
export const DEFAULT_CACHE_GB = 20;
/** Default of --stall-timeout, minutes. */
export const DEFAULT_STALL_TIMEOUT_MIN = 10;

/** The option table: one row per option of every command, in help order within each group. */
export const OPTION_TABLE = [
  {
    key: "raCol",
    group: "catalog",
    flags: "--ra-col <name>",
    description: "RA column (default: detected: ra, RAJ2000, ra_deg, ...)",
  },
  {
    key: "decCol",
    group: "catalog",
    flags: "--dec-col <name>",
    description: "Dec column (default: detected)",
  },
  {
    key: "idCol",
    group: "catalog",
    flags: "--id-col <name>",
    description: "id column (default: detected id/objid/name, else the row number)",
  },
  {
    key: "catalogFormat",
    group: "catalog",
    flags: "--catalog-format <fmt>",
    description: "csv | tsv | ecsv | votable | fits (default: from the file)",
  },
  {
    key: "strict",
    group: "catalog",
    flags: "--strict",
    description: "make bad catalog rows fatal (exit 3) instead of skipping them",
  },
  {
    key: "preset",
    group: "source",
    flags: "--preset <name>",
    description:
      "survey preset: source, bands, size and pixel scale in one (vocut presets lists them); explicit flags win",
  },
  {
    key: "hips2fits",
    group: "source",
    flags: "--hips2fits <ids>",
    list: true,
    description:
      "server-side HiPS cutouts: HiPS IDs, one per band (CDS/P/SDSS9/g,...; label=ID to name a band)",
  },
  {
    key: "hips2fitsUrl",
    group: "source",
    flags: "--hips2fits-url <urls>",
    list: true,
    description:
      "hips2fits endpoint(s), comma-separated, tried in order (default: CDS alasky, then alaskybis)",
    env: "VOCUT_HIPS2FITS_URL",
  },
  {
    key: "projection",
    group: "source",
    flags: "--projection <code>",
    description: "hips2fits projection",
    defaultValue: "TAN",
  },
  {
    key: "coordsys",
    group: "source",
    flags: "--coordsys <frame>",
    description: "hips2fits frame of ra/dec: icrs | galactic",
    defaultValue: "icrs",
  },
  {
    key: "rotation",
    group: "source",
    flags: "--rotation <deg>",
    description: "hips2fits rotation_angle in degrees",
    defaultValue: "0",
  },
  {
    key: "stretch",
    group: "source",
    flags: "--stretch <fn>",
    description: "hips2fits png/jpg stretch: power | linear | sqrt | log | asinh (service default linear)",
  },
  {
    key: "minCut",
    group: "source",
    flags: "--min-cut <value>",
    description:
      "hips2fits png/jpg min_cut: a pixel value or a percentile such as 0.5% (service default 0.5%)",
  },
  {
    key: "maxCut",
    group: "source",
    flags: "--max-cut <value>",
    description:
      "hips2fits png/jpg max_cut: a pixel value or a percentile such as 99.5% (service default 99.5%)",
  },
  {
    key: "cmap",
    group: "source",
    flags: "--cmap <name>",
    description: "hips2fits png/jpg colour map: a Matplotlib name, e.g. viridis (service default Greys_r)",
  },
  {
    key: "url",
    group: "source",
    flags: "--url <template>",
    description:
      "any cutout service: URL with {id} {ra} {dec} {band} {size} {width} {height} {sizeArcsec} {fovDeg} {pixscale}",
  },
  {
    key: "hips",
    group: "source",
    flags: "--hips <locations>",
    list: true,
    description:
      "client-side HiPS cutouts: HiPS base URLs or local folders, one per band (label=URL to name a band)",
  },
  {
    key: "interp",
    group: "source",
    flags: "--interp <method>",
    description: "--hips resampling: nearest | bilinear",
    defaultValue: "bilinear",
  },
  {
    key: "grid",
    group: "source",
    flags: "--grid <convention>",
    description:
      "--hips stamp grid: hips2fits (CRPIX = W/2, H/2, as the CDS service) | centred (CRPIX = (W+1)/2, (H+1)/2)",
    defaultValue: "hips2fits",
  },
  {
    key: "moc",
    group: "source",
    flags: "--moc <file|url|auto|none>",
    description:
      "coverage map (MOC FITS) checked before any request: targets outside it are no_coverage, never asked; auto: the MocServer's MOC of each --hips2fits survey; --hips uses each survey's Moc.fits unless none",
  },
  {
    key: "mocserverUrl",
    group: "source",
    flags: "--mocserver-url <url>",
    description:
      "CDS MocServer query URL for --moc auto (default: https://alasky.cds.unistra.fr/MocServer/query)",
    env: "VOCUT_MOCSERVER_URL",
  },
  {
    key: "sia",
    group: "source",
    flags: "--sia <url>",
    description:
      "Simple Image Access service (base URL): one query per target, the best image per band, cut locally or by SODA",
  },
  {
    key: "siaVersion",
    group: "source",
    flags: "--sia-version <n>",
    description: "--sia protocol: 1 or 2",
    defaultValue: "2",
  },
  {
    key: "band",
    group: "source",
    flags: "--band <windows>",
    list: true,
    description: "--sia bands by wavelength in metres: label=lo:hi,... (e.g. J=1.17e-6:1.33e-6)",
  },
  {
    key: "collection",
    group: "source",
    flags: "--collection <name>",
    description: "--sia 2: COLLECTION to query",
  },
  {
    key: "maxrec",
    group: "source",
    flags: "--maxrec <n>",
    description: "--sia 2: MAXREC (most images per answer)",
  },
  {
    key: "images",
    group: "source",
    flags: "--images <dir>",
    description:
      "cut stamps from a local survey folder: every FITS image under DIR, indexed by footprint in the ledger",
  },
  {
    key: "bandKey",
    group: "source",
    flags: "--band-key <key>",
    description:
      "--images: header keyword naming an image's band, matched to --bands case-insensitively (default FILTER)",
  },
  {
    key: "pick",
    group: "source",
    flags: "--pick <rule>",
    description:
      "--sia, --images: which image per band: margin (target furthest from the edge) | first (as the service lists them; by path)",
    defaultValue: "margin",
  },
  {
    key: "coadd",
    group: "source",
    flags: "--coadd <stat>",
    description:
      "--images: combine every image containing the target onto the picked one's grid: mean | median",
  },
  {
    key: "partial",
    group: "source",
    flags: "--no-partial",
    description:
      "--sia, --images: refuse stamps that run off their image (no coverage) instead of padding with NaN",
  },
  {
    key: "bands",
    group: "source",
    flags: "--bands <list>",
    list: true,
    description: "band labels for --url (or a subset of a --preset's bands), comma-separated",
    defaultValue: "",
  },
  {
    key: "size",
    group: "geometry",
    flags: "--size <px>",
    description: `stamp size in pixels: N or WxH (default: the preset's, else ${DEFAULT_SIZE})`,
  },
  {
    key: "pixscale",
    group: "geometry",
    flags: "--pixscale <arcsec>",
    description: `pixel scale in arcsec/pixel (default: the preset's, else ${DEFAULT_PIXSCALE})`,
  },
  { key: "out", group: "output", flags: "-o, --out <dir>", description: "output folder (required)" },
  {
    key: "ledger",
    group: "output",
    flags: "--ledger <file>",
    description: "ledger file (default: OUT/vocut.db; with --shard OUT/vocut.shard-I-of-N.db)",
  },
  {
    key: "ledgerJournal",
    group: "output",
    flags: "--ledger-journal <mode>",
    description:
      "ledger journal: auto (wal on local disks, wal-exclusive on NFS, Lustre, GPFS, FUSE, SMB...) | wal | wal-exclusive | delete",
    defaultValue: "auto",
    env: "VOCUT_LEDGER_JOURNAL",
  },
  {
    key: "shard",
    group: "output",
    flags: "--shard <i/n>",
    description:
      "take shard i (0-based) of n of the catalog, by id hash, at 1/n of the rate; auto:N = shard SLURM_ARRAY_TASK_ID of N; auto = from SLURM_ARRAY_TASK_ID/COUNT, or the count recorded in OUT by the first submission",
  },
  {
    key: "layout",
    group: "output",
    flags: "--layout <template>",
    description: "file layout inside OUT: {band} {id} {row} {ext}",
    defaultValue: "{band}/{id}.fits",
  },
  {
    key: "store",
    group: "store",
    flags: "--store <kind>",
    description:
      "files (one file per product) | tar (members of OUT/tar/{part}-NNNNNN.tar, named as the files would be); a job keeps its store (default: files, or the job's)",
  },
  {
    key: "tarSize",
    group: "store",
    flags: "--tar-size <MiB>",
    description: "--store tar: start a new tar file at this size (or at 100,000 members)",
    defaultValue: String(DEFAULTS.tarBytes / 2 ** 20),
  },
  {
    key: "tileCacheMb",
    group: "politeness",
    flags: "--tile-cache-mb <n>",
    description: "--hips / --images: decoded tiles or images kept in memory, MiB",
    defaultValue: String(DEFAULT_TILE_CACHE_MB),
  },
  {
    key: "cacheGb",
    group: "politeness",
    flags: "--cache-gb <n>",
    description:
      "most GiB of shared downloads (HiPS tiles, survey images, SIA answers) kept in OUT/.vocut-cache; the least recently used go first",
    defaultValue: String(DEFAULT_CACHE_GB),
  },
  {
    key: "concurrency",
    group: "politeness",
    flags: "--concurrency <n>",
    description: "requests in flight per host",
    defaultValue: String(DEFAULTS.concurrency),
    env: "VOCUT_CONCURRENCY",
  },
  {
    key: "rate",
    group: "politeness",
    flags: "--rate <n>",
    description: "requests per second per host",
    defaultValue: String(DEFAULTS.ratePerSec),
    env: "VOCUT_RATE",
  },
  {
    key: "burst",
    group: "politeness",
    flags: "--burst <n>",
    description: "requests per host that may leave at once after a quiet spell (token-bucket size)",
    defaultValue: String(DEFAULTS.burst),
    env: "VOCUT_BURST",
  },
  {
    key: "timeout",
    group: "politeness",
    flags: "--timeout <s>",
    description: "seconds per request (headers and body)",
    defaultValue: String(DEFAULTS.timeoutMs / 1000),
    env: "VOCUT_TIMEOUT",
  },
  {
    key: "retries",
    group: "politeness",
    flags: "--retries <n>",
    description: "retries per task in one run",
    defaultValue: String(DEFAULTS.retries),
    env: "VOCUT_RETRIES",
  },
  {
    key: "maxBytes",
    group: "politeness",
    flags: "--max-bytes <n>",
    description: `largest response accepted, bytes (default ${DEFAULTS.maxBytes} for cutouts, ${DEFAULTS.productMaxBytes} for archive products)`,
    env: "VOCUT_MAX_BYTES",
  },
  {
    key: "pauseAfter",
    group: "politeness",
    flags: "--pause-after <n>",
    description: "consecutive failures that pause a host (circuit breaker)",
    defaultValue: String(DEFAULTS.pacer.breakerFailures),
  },
  {
    key: "pause",
    group: "politeness",
    flags: "--pause <s>",
    description: "seconds a failing host is paused",
    defaultValue: String(DEFAULTS.pacer.breakerPauseMs / 1000),
  },
  {
    key: "giveUpAfter",
    group: "politeness",
    flags: "--give-up-after <n>",
    description: "pauses in a row after which a host counts as down (run ends, exit 5)",
    defaultValue: String(DEFAULTS.pacer.breakerMaxOpens),
  },
  {
    key: "maxDuration",
    group: "politeness",
    flags: "--max-duration <s>",
    description: "stop cleanly after this many seconds (exit 5)",
  },
  {
    key: "stallTimeout",
    group: "politeness",
    flags: "--stall-timeout <min>",
    description:
      "watchdog: stop (exit 5) when nothing settles, fails or is retried for this long while work is waiting; minutes, or 90s/1h; 0 = off",
    defaultValue: String(DEFAULT_STALL_TIMEOUT_MIN),
    env: "VOCUT_STALL_TIMEOUT",
  },
  {
    key: "contact",
    group: "politeness",
    flags: "--contact <email>",
    description: "contact address sent in the User-Agent",
    env: "VOCUT_CONTACT",
  },
  {
    key: "netrc",
    group: "credentials",
    flags: "--netrc [file]",
    description:
      "send Basic credentials from a netrc file, read as curl reads it (default ~/.netrc): machine, login, password, default",
  },
  {
    key: "tokenEnv",
    group: "credentials",
    flags: "--token-env <var>",
    description:
      "send 'Authorization: Bearer <value of the environment variable VAR>' to the service and the products it lists; never stored or printed",
  },
  {
    key: "authHost",
    group: "credentials",
    flags: "--auth-host <hosts>",
    list: true,
    description:
      "hosts (name or name:port, comma-separated) that may receive the credentials after a redirect to them",
  },
  {
    key: "quiet",
    group: "reporting",
    flags: "-q, --quiet",
    description: "print nothing but errors (for cron)",
  },
  { key: "json", group: "reporting", flags: "--json", description: "print NDJSON events on stdout" },
  {
    key: "dryRun",
    group: "plan",
    flags: "--dry-run",
    description: "print every request (band, id, URL, output path) and touch nothing",
  },
  {
    key: "failures",
    group: "job",
    flags: "--failures <n>",
    description: "failures to list",
    defaultValue: "20",
  },
  {
    key: "failed",
    group: "job",
    flags: "--failed",
    description: "retry tasks that failed with a retryable error (the default)",
  },
  {
    key: "into",
    group: "job",
    flags: "--into <file>",
    description: "merged ledger (default: OUT/vocut.db of the shards' output folder)",
  },
  {
    key: "permanent",
    group: "job",
    flags: "--permanent",
    description: "also retry tasks that failed permanently (404, 400, ...)",
  },
  {
    key: "tap",
    group: "products",
    flags: "--tap <url>",
    description: "TAP service base URL (the query goes to URL/sync)",
  },
  {
    key: "query",
    group: "products",
    flags: "--query <adql>",
    description: "ADQL query, e.g. SELECT * FROM ivoa.ObsCore WHERE ...",
  },
  {
    key: "async",
    group: "products",
    flags: "--async",
    description:
      "run the TAP query as an async (UWS) job: the job URL is kept in the ledger, so a killed run waits for the same job",
  },
  {
    key: "jobWait",
    group: "products",
    flags: "--job-wait <s>",
    description: "longest time one run waits for an async TAP job, seconds; then exit 5 and the job is kept",
    defaultValue: String(DEFAULTS.uwsBudgetMs / 1000),
  },
  {
    key: "describe",
    group: "products",
    flags: "--describe",
    description:
      "list the service's ObsCore collections and product types with counts and estimated sizes (no download)",
  },
  {
    key: "urlCol",
    group: "products",
    flags: "--url-col <name>",
    description: "access URL column (default: access_url, or UCD meta.ref.url)",
  },
  {
    key: "formatCol",
    group: "products",
    flags: "--format-col <name>",
    description: "MIME type column (default: access_format)",
  },
  {
    key: "format",
    group: "export",
    flags: "--format <format>",
    description:
      "npy or fits (default: from the --out extension), or webdataset: --out DIR gets tar shards, a target's bands adjacent",
  },
  {
    key: "rgb",
    group: "preview",
    flags: "--rgb <r,g,b>",
    description: "three bands as red,green,blue (Lupton et al. 2004 colour), e.g. i,r,g",
  },
  {
    key: "max",
    group: "preview",
    flags: "--max <n>",
    description: "at most this many targets, in catalog order",
    defaultValue: "400",
  },
  { key: "ids", group: "preview", flags: "--ids", description: "write each target's id under its stamp" },
] as const satisfies readonly OptionSpec[];

type Row = (typeof OPTION_TABLE)[number];
/** The key of a row of the option table. */
export type OptionKey = Row["key"];

/** The table's rows by key, to pick or specialise one: `OPTION.json`, `{ ...OPTION.json, description }`. */
export const OPTION = Object.fromEntries(OPTION_TABLE.map((r) => [r.key, r])) as unknown as {
  readonly [R in Row as R["key"]]: R;
};

/** The rows of one group, in table order. */
export function inGroup<G extends OptionSpec["group"]>(group: G): Extract<Row, { group: G }>[] {
  return OPTION_TABLE.filter((r): r is Extract<Row, { group: G }> => r.group === group);
}

/** `rows` without the rows of `keys`. */
export function without<R extends OptionSpec, K extends R["key"]>(
  rows: readonly R[],
  ...keys: K[]
): Exclude<R, { key: K }>[] {
  return rows.filter((r): r is Exclude<R, { key: K }> => !(keys as string[]).includes(r.key));
}

/** `--ledger` of the commands that read a planned job (status, fetch, retry, export, preview). */
const JOB_LEDGER = {
  ...OPTION.ledger,
  description: "the job's ledger file or output folder, as `run --ledger` (same as the [ledger] argument)",
} as const;
/** `--ledger` of export and preview. */
const READ_LEDGER = {
  ...OPTION.ledger,
  description: "the job's ledger file or output folder (same as the [ledger] argument)",
} as const;
/** `--format` of run and plan: the stamp format, a job parameter. */
const STAMP_FORMAT = {
  ...OPTION.format,
  description:
    "stamp format: fits | png (--hips on a PNG/JPEG survey; default there) | jpg (--hips2fits); default fits",
} as const;
/** `--json` of the commands that print one summary. */
const SUMMARY_JSON = { ...OPTION.json, description: "print the summary as one JSON document" } as const;

/** Every command's options, in help order: rows picked by group or key, some specialised for the command. */
export const COMMAND_OPTIONS = {
  run: [
    ...inGroup("source"),
    STAMP_FORMAT,
    ...inGroup("geometry"),
    ...inGroup("output"),
    ...inGroup("store"),
    ...inGroup("catalog"),
    ...inGroup("politeness"),
    ...inGroup("credentials"),
    ...inGroup("reporting"),
  ],
  plan: [
    OPTION.dryRun,
    {
      ...OPTION.rate,
      description: "requests/s the --dry-run mode comparison assumes (as `run --rate`)",
    },
    ...inGroup("source"),
    STAMP_FORMAT,
    ...inGroup("geometry"),
    ...inGroup("output"),
    ...inGroup("store"),
    ...inGroup("catalog"),
    ...inGroup("reporting"),
  ],
  status: [
    { ...OPTION.json, description: "one JSON document on stdout" },
    OPTION.failures,
    JOB_LEDGER,
    OPTION.ledgerJournal,
  ],
  fetch: [
    JOB_LEDGER,
    ...inGroup("store"),
    ...inGroup("politeness"),
    ...inGroup("credentials"),
    ...inGroup("reporting"),
    OPTION.ledgerJournal,
  ],
  retry: [
    OPTION.failed,
    OPTION.permanent,
    JOB_LEDGER,
    ...inGroup("store"),
    ...inGroup("politeness"),
    ...inGroup("credentials"),
    ...inGroup("reporting"),
    OPTION.ledgerJournal,
  ],
  presets: [{ ...OPTION.json, description: "one JSON array on stdout" }],
  export: [
    READ_LEDGER,
    {
      ...OPTION.out,
      flags: "--out <file>",
      description: "array file to write (its sidecar is FILE.csv); a folder with --format webdataset",
      mandatory: true,
    },
    OPTION.format,
    SUMMARY_JSON,
  ],
  preview: [
    READ_LEDGER,
    { ...OPTION.out, flags: "--out <file>", description: "PNG file to write", mandatory: true },
    {
      ...OPTION.band,
      flags: "--band <band>",
      list: false,
      description: "one band, asinh stretch (default: the job's first band)",
    },
    OPTION.rgb,
    OPTION.max,
    OPTION.ids,
    SUMMARY_JSON,
  ],
  merge: [
    OPTION.into,
    {
      ...OPTION.ledger,
      description: "the same as --into: the job's (merged) ledger, as other commands take it",
    },
    { ...OPTION.partial, flags: "--partial", description: "merge even if some shards are missing" },
    SUMMARY_JSON,
  ],
  obscore: [
    OPTION.tap,
    OPTION.query,
    OPTION.async,
    OPTION.jobWait,
    OPTION.describe,
    {
      ...OPTION.dryRun,
      description:
        "print what the query or list will cost (rows, products, estimated size by collection and type, time at --rate) and download nothing",
    },
    {
      ...OPTION.maxrec,
      description: "most rows the service may return (MAXREC); a truncated result is reported",
    },
    OPTION.urlCol,
    {
      ...OPTION.idCol,
      description: "id column naming the files (default: obs_publisher_did, else obs_id, else the URL)",
    },
    OPTION.formatCol,
    { ...OPTION.strict, description: "make bad rows fatal (exit 3) instead of skipping them" },
    OPTION.out,
    OPTION.ledger,
    OPTION.ledgerJournal,
    {
      ...OPTION.layout,
      description: "file layout inside OUT: {id} {row} {ext}",
      defaultValue: PRODUCT_LAYOUT,
    },
    ...inGroup("store"),
    ...without(inGroup("politeness"), "tileCacheMb"),
    ...inGroup("credentials"),
    ...inGroup("reporting"),
  ],
} as const satisfies Record<string, readonly OptionSpec[]>;

/** A command that takes its options from COMMAND_OPTIONS. */
export type CommandName = keyof typeof COMMAND_OPTIONS;

/** The parsed options of one command. */
export type OptionsOf<C extends CommandName> = OptionValues<(typeof COMMAND_OPTIONS)[C]>;

/** Parsed flags of `run`/`plan` as commander hands them over (strings until validated). */
export type RawOptions = OptionValues<
  ReadonlyArray<(typeof COMMAND_OPTIONS)["run"][number] | (typeof COMMAND_OPTIONS)["plan"][number]>
>;

/**
 * Give `cmd` the options of command `name` from the table, and a help section listing their environment
 * variables. The options keep the table's order.
 */
export function addTableOptions<C extends CommandName>(cmd: Command, name: C): Command {
  const rows: readonly OptionSpec[] = COMMAND_OPTIONS[name];
  for (const r of rows) cmd.addOption(toOption(r));
  const env = envHelp(rows);
  if (env !== "") cmd.addHelpText("after", env);
  return cmd;
}
