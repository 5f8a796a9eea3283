import { type Command, Option } from "commander";
import { usageError } from "../errors.js";

/**
 * The one option table: commander flags, environment variables, defaults and help text all come from
 * here. Politeness defaults mirror src/fetch/defaults.ts.
 */
export interface OptionSpec {
  readonly flags: string;
  readonly description: string;
  readonly defaultValue?: string | boolean;
  /** Environment variable that sets this option when the flag is absent. */
  readonly env?: string;
  readonly group: "catalog" | "source" | "geometry" | "output" | "politeness" | "reporting";
  /**
   * A comma-separated list: given twice, the values accumulate exactly as their comma form would
   * (`--bands g --bands r` = `--bands g,r`). Any other option with a value given twice with different
   * values is a usage error (see guardRepeats()).
   */
  readonly list?: boolean;
}

export const CATALOG_OPTIONS: readonly OptionSpec[] = [
  {
    group: "catalog",
    flags: "--ra-col <name>",
    description: "RA column (default: detected: ra, RAJ2000, ra_deg, ...)",
  },
  { group: "catalog", flags: "--dec-col <name>", description: "Dec column (default: detected)" },
  {
    group: "catalog",
    flags: "--id-col <name>",
    description: "id column (default: detected id/objid/name, else the row number)",
  },
  {
    group: "catalog",
    flags: "--catalog-format <fmt>",
    description: "csv | tsv | votable | fits (default: from the file)",
  },
  {
    group: "catalog",
    flags: "--strict",
    description: "make bad catalog rows fatal (exit 3) instead of skipping them",
  },
];

export const SOURCE_OPTIONS: readonly OptionSpec[] = [
  {
    group: "source",
    flags: "--preset <name>",
    description:
      "survey preset: source, bands, size and pixel scale in one (vocut presets lists them); explicit flags win",
  },
  {
    group: "source",
    flags: "--hips2fits <ids>",
    list: true,
    description:
      "server-side HiPS cutouts: HiPS IDs, one per band (CDS/P/SDSS9/g,...; label=ID to name a band)",
  },
  {
    group: "source",
    flags: "--hips2fits-url <urls>",
    list: true,
    description:
      "hips2fits endpoint(s), comma-separated, tried in order (default: CDS alasky, then alaskybis)",
    env: "VOCUT_HIPS2FITS_URL",
  },
  { group: "source", flags: "--projection <code>", description: "hips2fits projection", defaultValue: "TAN" },
  {
    group: "source",
    flags: "--coordsys <frame>",
    description: "hips2fits frame of ra/dec: icrs | galactic",
    defaultValue: "icrs",
  },
  {
    group: "source",
    flags: "--rotation <deg>",
    description: "hips2fits rotation_angle in degrees",
    defaultValue: "0",
  },
  {
    group: "source",
    flags: "--url <template>",
    description:
      "any cutout service: URL with {id} {ra} {dec} {band} {size} {width} {height} {sizeArcsec} {fovDeg} {pixscale}",
  },
  {
    group: "source",
    flags: "--hips <locations>",
    list: true,
    description:
      "client-side HiPS cutouts: HiPS base URLs or local folders, one per band (label=URL to name a band)",
  },
  {
    group: "source",
    flags: "--interp <method>",
    description: "--hips resampling: nearest | bilinear",
    defaultValue: "bilinear",
  },
  {
    group: "source",
    flags: "--sia <url>",
    description:
      "Simple Image Access service (base URL): one query per target, the best image per band, cut locally or by SODA",
  },
  { group: "source", flags: "--sia-version <n>", description: "--sia protocol: 1 or 2", defaultValue: "2" },
  {
    group: "source",
    flags: "--band <windows>",
    list: true,
    description: "--sia bands by wavelength in metres: label=lo:hi,... (e.g. J=1.17e-6:1.33e-6)",
  },
  { group: "source", flags: "--collection <name>", description: "--sia 2: COLLECTION to query" },
  { group: "source", flags: "--maxrec <n>", description: "--sia 2: MAXREC (most images per answer)" },
  {
    group: "source",
    flags: "--images <dir>",
    description:
      "cut stamps from a local survey folder: every FITS image under DIR, indexed by footprint in the ledger",
  },
  {
    group: "source",
    flags: "--band-key <key>",
    description:
      "--images: header keyword naming an image's band, matched to --bands case-insensitively (default FILTER)",
  },
  {
    group: "source",
    flags: "--pick <rule>",
    description:
      "--sia, --images: which image per band: margin (target furthest from the edge) | first (as the service lists them; by path)",
    defaultValue: "margin",
  },
  {
    group: "source",
    flags: "--coadd <stat>",
    description:
      "--images: combine every image containing the target onto the picked one's grid: mean | median",
  },
  {
    group: "source",
    flags: "--no-partial",
    description:
      "--sia, --images: refuse stamps that run off their image (no coverage) instead of padding with NaN",
  },
  {
    group: "source",
    flags: "--bands <list>",
    list: true,
    description: "band labels for --url (or a subset of a --preset's bands), comma-separated",
    defaultValue: "",
  },
];

/**
 * Geometry defaults. They are not commander defaults: an absent flag stays undefined so that a --preset's
 * size and pixel scale can fill it in, and src/cli/config.ts applies these last (flag > preset > default).
 */
export const DEFAULT_SIZE = "28";
export const DEFAULT_PIXSCALE = "0.396";

export const GEOMETRY_OPTIONS: readonly OptionSpec[] = [
  {
    group: "geometry",
    flags: "--size <px>",
    description: `stamp size in pixels: N or WxH (default: the preset's, else ${DEFAULT_SIZE})`,
  },
  {
    group: "geometry",
    flags: "--pixscale <arcsec>",
    description: `pixel scale in arcsec/pixel (default: the preset's, else ${DEFAULT_PIXSCALE})`,
  },
];

export const OUTPUT_OPTIONS: readonly OptionSpec[] = [
  { group: "output", flags: "-o, --out <dir>", description: "output folder (required)" },
  {
    group: "output",
    flags: "--ledger <file>",
    description: "ledger file (default: OUT/vocut.db; with --shard OUT/vocut.shard-I-of-N.db)",
  },
  {
    group: "output",
    flags: "--ledger-journal <mode>",
    description:
      "ledger journal: auto (wal on local disks, wal-exclusive on NFS, Lustre, GPFS, FUSE, SMB...) | wal | wal-exclusive | delete",
    defaultValue: "auto",
    env: "VOCUT_LEDGER_JOURNAL",
  },
  {
    group: "output",
    flags: "--shard <i/n>",
    description:
      "take shard i (0-based) of n of the catalog, by id hash, at 1/n of the rate; auto:N = shard SLURM_ARRAY_TASK_ID of N; auto = from SLURM_ARRAY_TASK_ID/COUNT, or the count recorded in OUT by the first submission",
  },
  {
    group: "output",
    flags: "--layout <template>",
    description: "file layout inside OUT: {band} {id} {row} {ext}",
    defaultValue: "{band}/{id}.fits",
  },
];

/** `--ledger` of the commands that read a planned job (status, fetch, retry, export, preview). */
export const JOB_LEDGER_OPTIONS: readonly OptionSpec[] = [
  {
    group: "output",
    flags: "--ledger <file>",
    description: "the job's ledger file or output folder, as `run --ledger` (same as the [ledger] argument)",
  },
];

export const POLITENESS_OPTIONS: readonly OptionSpec[] = [
  {
    group: "politeness",
    flags: "--tile-cache-mb <n>",
    description: "--hips / --images: decoded tiles or images kept in memory, MiB",
    defaultValue: "256",
  },
  {
    group: "politeness",
    flags: "--cache-gb <n>",
    description:
      "most GiB of shared downloads (HiPS tiles, survey images, SIA answers) kept in OUT/.vocut-cache; the least recently used go first",
    defaultValue: "20",
  },
  {
    group: "politeness",
    flags: "--concurrency <n>",
    description: "requests in flight per host",
    defaultValue: "4",
    env: "VOCUT_CONCURRENCY",
  },
  {
    group: "politeness",
    flags: "--rate <n>",
    description: "requests per second per host",
    defaultValue: "5",
    env: "VOCUT_RATE",
  },
  {
    group: "politeness",
    flags: "--burst <n>",
    description: "requests per host that may leave at once after a quiet spell (token-bucket size)",
    defaultValue: "1",
    env: "VOCUT_BURST",
  },
  {
    group: "politeness",
    flags: "--timeout <s>",
    description: "seconds per request (headers and body)",
    defaultValue: "60",
    env: "VOCUT_TIMEOUT",
  },
  {
    group: "politeness",
    flags: "--retries <n>",
    description: "retries per task in one run",
    defaultValue: "5",
    env: "VOCUT_RETRIES",
  },
  {
    group: "politeness",
    flags: "--max-bytes <n>",
    description:
      "largest response accepted, bytes (default 104857600 for cutouts, 1073741824 for archive products)",
    env: "VOCUT_MAX_BYTES",
  },
  {
    group: "politeness",
    flags: "--pause-after <n>",
    description: "consecutive failures that pause a host (circuit breaker)",
    defaultValue: "10",
  },
  {
    group: "politeness",
    flags: "--pause <s>",
    description: "seconds a failing host is paused",
    defaultValue: "60",
  },
  {
    group: "politeness",
    flags: "--give-up-after <n>",
    description: "pauses in a row after which a host counts as down (run ends, exit 5)",
    defaultValue: "5",
  },
  {
    group: "politeness",
    flags: "--max-duration <s>",
    description: "stop cleanly after this many seconds (exit 5)",
  },
  {
    group: "politeness",
    flags: "--stall-timeout <min>",
    description:
      "watchdog: stop (exit 5) when nothing settles, fails or is retried for this long while work is waiting; minutes, or 90s/1h; 0 = off",
    defaultValue: "10",
    env: "VOCUT_STALL_TIMEOUT",
  },
  {
    group: "politeness",
    flags: "--contact <email>",
    description: "contact address sent in the User-Agent",
    env: "VOCUT_CONTACT",
  },
];

export const REPORTING_OPTIONS: readonly OptionSpec[] = [
  { group: "reporting", flags: "-q, --quiet", description: "print nothing but errors (for cron)" },
  { group: "reporting", flags: "--json", description: "print NDJSON events on stdout" },
];

/** Turn table rows into commander Options. */
export function toOptions(specs: readonly OptionSpec[]): Option[] {
  return specs.map((s) => {
    const o = new Option(s.flags, s.description);
    if (s.defaultValue !== undefined) o.default(s.defaultValue);
    if (s.env !== undefined) o.env(s.env);
    if (s.list === true) LIST_OPTIONS.add(o);
    return o;
  });
}

/** Options whose repeats accumulate (OptionSpec.list); an Option added by hand joins with markList(). */
const LIST_OPTIONS = new WeakSet<Option>();

/** Mark an option written by hand (not from the table) as a comma-separated list. */
export function markList(o: Option): Option {
  LIST_OPTIONS.add(o);
  return o;
}

/** Whether repeats of this option accumulate (see OptionSpec.list). */
export function isListOption(o: Option): boolean {
  return LIST_OPTIONS.has(o);
}

/**
 * Give every option of `cmd` that takes a value (table rows and options written by hand alike) its
 * repeat rule, which commander alone lacks: it keeps the last value, so `--band A=.. --band B=..` once
 * ran a job on band B alone and exited 0. A list option given again appends with a comma, exactly as
 * its comma form; any other option given again with a different value throws a usage error (exit 2)
 * naming it; the same value again is harmless. Flags without a value may repeat. Call once all options
 * are added; an option's own parser (none today) still parses each value. A repeat is told from a
 * default or an environment variable by commander's record of where the current value came from.
 */
export function guardRepeats(cmd: Command): void {
  for (const o of cmd.options) {
    if (!o.required && !o.optional) continue;
    const inner = o.parseArg;
    const key = o.attributeName();
    const name = o.long ?? o.short ?? key;
    const list = isListOption(o);
    o.parseArg = <T>(value: string, previous: T): T => {
      const parsed = inner === undefined ? value : inner(value, previous);
      if (cmd.getOptionValueSource(key) !== "cli") return parsed as T;
      if (list) return `${String(previous)},${String(parsed)}` as T;
      if (parsed !== previous && JSON.stringify(parsed) !== JSON.stringify(previous))
        throw usageError("REPEATED_OPTION", `${name} given twice: ${String(previous)} and ${String(parsed)}`);
      return previous;
    };
  }
}

/** Parsed flags of `run`/`plan` as commander hands them over (strings until validated). */
export interface RawOptions {
  raCol?: string;
  decCol?: string;
  idCol?: string;
  catalogFormat?: string;
  strict?: boolean;
  preset?: string;
  hips2fits?: string;
  hips2fitsUrl?: string;
  projection: string;
  coordsys: string;
  rotation: string;
  url?: string;
  hips?: string;
  interp: string;
  sia?: string;
  siaVersion?: string;
  band?: string;
  collection?: string;
  maxrec?: string;
  images?: string;
  bandKey?: string;
  pick?: string;
  coadd?: string;
  /** false with --no-partial. */
  partial?: boolean;
  tileCacheMb?: string;
  cacheGb?: string;
  bands: string;
  /** Undefined unless given: see DEFAULT_SIZE. */
  size?: string;
  /** Undefined unless given: see DEFAULT_PIXSCALE. */
  pixscale?: string;
  out?: string;
  ledger?: string;
  ledgerJournal?: string;
  layout: string;
  shard?: string;
  concurrency: string;
  rate: string;
  burst?: string;
  timeout: string;
  retries: string;
  maxBytes?: string;
  maxDuration?: string;
  stallTimeout?: string;
  pauseAfter: string;
  pause: string;
  giveUpAfter: string;
  contact?: string;
  quiet?: boolean;
  json?: boolean;
  dryRun?: boolean;
}
