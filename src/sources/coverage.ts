import { readFile } from "node:fs/promises";
import type { Target } from "../catalog/types.js";
import { inputError } from "../errors.js";
import { readBinTable } from "../fits/bintable.js";
import { FitsError } from "../fits/errors.js";
import { type Moc, MocError, mocFromTable, mocIntersectsDisc } from "../healpix/index.js";
import { inFrame } from "../sky/galactic.js";
import type { SourceConfig } from "./create-source.js";
import type { Geometry, SharedGet } from "./source.js";

/**
 * Survey coverage maps (MOC) checked before any request: a task whose stamp footprint does not touch its
 * band's MOC is settled "no_coverage" without asking anything. The footprint is the disc around the
 * target through the stamp's corners, plus one pixel (the resampling reads neighbours): a stamp that only
 * partly overlaps the MOC is fetched.
 */

/** The reason recorded for a target outside its band's MOC. */
export const OUTSIDE_MOC = "outside the survey's MOC";

/** The CDS MocServer: `?ID=<HiPS ID>&get=moc&fmt=fits` answers the survey's MOC as a FITS file. */
export const MOCSERVER_URL = "https://alasky.cds.unistra.fr/MocServer/query";

/** The MocServer URL of one HiPS's MOC (`--moc auto` with --hips2fits). */
export function mocServerUrl(base: string, hipsId: string): string {
  return `${base}?${new URLSearchParams({ ID: hipsId, get: "moc", fmt: "fits" }).toString()}`;
}

/** Where one band's MOC is: a URL or an absolute path; `optional`: absent (404, no file) means no MOC. */
export interface MocLocation {
  readonly band: string;
  readonly location: string;
  readonly optional: boolean;
}

/**
 * The MOC of each of a job's `bands`: `moc` in the source's configuration (one location per band, or one
 * for all, from `--moc`), else for --hips the survey's own `Moc.fits` when it has one. Other kinds: none.
 */
export function mocLocations(config: SourceConfig, bands: readonly string[]): MocLocation[] {
  const given = "moc" in config ? config.moc : undefined;
  if (given !== undefined) {
    return bands.map((band, i) => ({ band, location: given[i] ?? (given[0] as string), optional: false }));
  }
  if (config.kind === "hips")
    return config.hips.map((h) => ({ band: h.label, location: `${h.location}/Moc.fits`, optional: true }));
  return [];
}

/** Parse a MOC FITS file (first BINTABLE: NUNIQ or RANGE). Throws an input error (exit 3) naming `where`. */
export function readMocFits(buf: Buffer, where: string): Moc {
  try {
    const table = readBinTable(buf);
    const h = table.header;
    const col = table.columns[0];
    if (table.columns.length !== 1 || col === undefined || (col.type !== "J" && col.type !== "K"))
      throw new MocError("expected one integer column (TFORM1 1J or 1K)");
    const values: Array<number | bigint> = [];
    for (const row of table.rows()) values.push(row[0] as number | bigint);
    const order = h.getNumber("MOCORD_S") ?? h.getNumber("MOCORDER");
    const ordering = h.get("ORDERING");
    const coordsys = h.get("COORDSYS");
    return mocFromTable({
      ordering: typeof ordering === "string" ? ordering : "NUNIQ",
      values,
      ...(order === undefined ? {} : { maxOrder: order }),
      ...(typeof coordsys === "string" ? { coordsys } : {}),
    });
  } catch (err) {
    if (err instanceof MocError || err instanceof FitsError)
      throw inputError("BAD_MOC", `${where} is not a readable MOC: ${err.message}`, err);
    throw err;
  }
}

/** Radius of the disc that holds a stamp and one more pixel around it, in degrees. */
export function footprintRadiusDeg(g: Geometry): number {
  return ((Math.hypot(g.widthPx, g.heightPx) / 2 + 1) * g.pixscaleArcsec) / 3600;
}

/** The MOCs of a job's bands, loaded; `outside` tells a task to skip. */
export class Coverage {
  constructor(
    private readonly mocs: ReadonlyMap<string, Moc>,
    private readonly radiusDeg: number,
    /** Where each band's MOC came from (for messages). */
    readonly sources: ReadonlyMap<string, string>,
    /** Optional MOCs that could not be used (an HTML page instead of Moc.fits): their bands are all asked. */
    readonly notes: readonly string[] = [],
  ) {}

  /** Whether any band has a MOC. */
  get any(): boolean {
    return this.mocs.size > 0;
  }

  /** The reason to skip the task (target, band) without a request, or undefined to fetch it. */
  outside(target: Target, band: string): string | undefined {
    const moc = this.mocs.get(band);
    if (moc === undefined || !Number.isFinite(target.raDeg) || !Number.isFinite(target.decDeg))
      return undefined;
    const { lon, lat } = inFrame(moc.frame, target.raDeg, target.decDeg);
    return mocIntersectsDisc(moc, lon, lat, this.radiusDeg) ? undefined : OUTSIDE_MOC;
  }
}

/**
 * Load the MOCs of a job (mocLocations): URLs through `shared` (fetched once per job, cached and recorded
 * in the ledger like a tile; a 404 of an optional MOC means none), paths from disk. Bands sharing one
 * location share one read. Throws an input error for a required MOC that is missing or unreadable.
 */
export async function loadCoverage(
  config: SourceConfig,
  bands: readonly string[],
  shared: SharedGet,
  signal: AbortSignal,
): Promise<Coverage> {
  const mocs = new Map<string, Moc>();
  const sources = new Map<string, string>();
  const read = new Map<string, Promise<Moc | undefined>>();
  const notes: string[] = [];
  for (const m of mocLocations(config, bands)) {
    let p = read.get(m.location);
    if (p === undefined) {
      p = loadOne(m, shared, signal).catch((err: unknown) => {
        // A survey's own Moc.fits is optional: unreadable, the job runs as without one (and says so).
        if (!m.optional || signal.aborted) throw err;
        notes.push(`${(err as Error).message}; every target of band ${m.band} is asked`);
        return undefined;
      });
      read.set(m.location, p);
    }
    const moc = await p;
    if (moc !== undefined) {
      mocs.set(m.band, moc);
      sources.set(m.band, m.location);
    }
  }
  const g = "geometry" in config ? config.geometry : undefined;
  const radius = g !== undefined && "pixscaleArcsec" in g ? footprintRadiusDeg(g as Geometry) : 0;
  return new Coverage(mocs, radius, sources, notes);
}

async function loadOne(m: MocLocation, shared: SharedGet, signal: AbortSignal): Promise<Moc | undefined> {
  let buf: Buffer | null;
  if (/^https?:\/\//.test(m.location)) {
    buf = await shared(m.location, signal).catch((err: unknown) => {
      throw inputError("BAD_MOC", `cannot read the MOC ${m.location}: ${(err as Error).message}`, err);
    });
  } else {
    try {
      buf = await readFile(m.location);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT")
        throw inputError("BAD_MOC", `cannot read the MOC ${m.location}: ${(err as Error).message}`, err);
      buf = null;
    }
  }
  if (buf === null) {
    if (m.optional) return undefined;
    throw inputError("BAD_MOC", `the MOC ${m.location} was not found`);
  }
  return readMocFits(buf, m.location);
}
