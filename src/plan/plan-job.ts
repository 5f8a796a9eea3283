import type { CatalogEvent, Target } from "../catalog/types.js";
import { inputError } from "../errors.js";
import type { Ledger } from "../ledger/ledger.js";
import { isProducer, type Source } from "../sources/source.js";
import { FITS_EXT, outputRelPath } from "./layout.js";
import { idHashSuffix, readableName, safeId } from "./safe-name.js";

/** A row that planning skipped, as reported to the user. */
export interface SkippedRow {
  readonly row: number;
  readonly line?: number;
  readonly reason: string;
  readonly message: string;
}

/** Planning totals. */
export interface PlanSummary {
  /** Targets read from the catalog and accepted. */
  readonly targets: number;
  /** Targets new to the ledger in this run (0 on a plain resume). */
  readonly newTargets: number;
  /** Tasks in the job (targets x bands). */
  readonly tasks: number;
  /** Rows skipped (bad values, duplicate ids, id collisions). */
  readonly skipped: number;
}

/** Targets per planning transaction: large enough to amortise commits, small enough to bound memory. */
const PLAN_BATCH = 5_000;

/**
 * Plan a job into the ledger: one task per (target, band), INSERT OR IGNORE, in batched transactions.
 * Duplicate ids are detected by the ledger (constant memory). Bad rows go to `onSkip`; with `strict`
 * the first one aborts planning with exit 3.
 */
export async function planIntoLedger(
  ledger: Ledger,
  source: Source,
  events: AsyncIterable<CatalogEvent>,
  options: { strict: boolean; onSkip: (s: SkippedRow) => void },
): Promise<PlanSummary> {
  const bandCount = source.bands.length;
  // Producing sources (client-side HiPS) process neighbours together; the rest go in catalog order.
  const sortKeyOf = (t: Target): number => (isProducer(source) ? source.sortKey(t) : t.row);
  let targets = 0;
  let newTargets = 0;
  let skipped = 0;
  let batch: Target[] = [];
  const skip = (s: SkippedRow): void => {
    skipped++;
    options.onSkip(s);
    if (options.strict) {
      throw inputError("BAD_ROW", `${where(s)}: ${s.message} (--strict makes bad rows fatal)`);
    }
  };
  const commit = (): void => {
    const rows = batch;
    batch = [];
    const conflicts: SkippedRow[] = [];
    ledger.transaction(() => {
      for (const t of rows) {
        const add = (name: string) =>
          ledger.addTarget(
            {
              row: t.row,
              id: t.id,
              safeId: name,
              raDeg: t.raDeg,
              decDeg: t.decDeg,
              ...(t.product === undefined
                ? {}
                : {
                    url: t.product.url,
                    ...(t.product.format === undefined ? {} : { format: t.product.format }),
                  }),
            },
            bandCount,
            sortKeyOf(t),
          );
        const name = productName(t);
        let r = add(name ?? safeId(t.id));
        // A product whose readable name is taken gets the hash suffix, and only then (issue 13).
        if (r === "safe_id_collision" && name !== undefined) r = add(name + idHashSuffix(t.id));
        if (r === "new" || r === "known") {
          targets++;
          if (r === "new") newTargets++;
        } else if (r === "duplicate_id") {
          conflicts.push({
            row: t.row,
            reason: "duplicate_id",
            message: `id ${JSON.stringify(t.id)} already used by an earlier row`,
          });
        } else {
          conflicts.push({
            row: t.row,
            reason: "id_collision",
            message: `id ${JSON.stringify(t.id)} maps to the same file name as another id (${productName(t) ?? safeId(t.id)})`,
          });
        }
      }
    });
    for (const c of conflicts) skip(c);
  };
  for await (const ev of events) {
    if (ev.kind === "bad") {
      skip(ev.bad);
      continue;
    }
    batch.push(ev.target);
    if (batch.length >= PLAN_BATCH) commit();
  }
  commit();
  return { targets, newTargets, tasks: targets * bandCount, skipped };
}

/** The readable file name of a product target (issue 13), undefined for cutout targets. */
function productName(t: Target): string | undefined {
  if (t.nameFrom === undefined) return undefined;
  for (const from of t.nameFrom) {
    const n = readableName(from);
    if (n !== undefined) return n;
  }
  return "product";
}

/** "line 12" or "row 12" for messages. */
export function where(s: { row: number; line?: number }): string {
  return s.line !== undefined ? `line ${s.line} (row ${s.row})` : `row ${s.row}`;
}

/**
 * A catalog id as one field of a `plan --dry-run` line: backslash, tab, newline, carriage return and other
 * control characters (C0, DEL, C1) escaped as \\, \t, \n, \r and \u00XX, so that a hostile id can neither
 * break the tab-separated line nor send escape sequences to the terminal. Ordinary ids are unchanged.
 */
export function tsvField(text: string): string {
  let out = "";
  for (const c of text) {
    const code = c.codePointAt(0) ?? 0;
    if (c === "\\") out += "\\\\";
    else if (c === "\t") out += "\\t";
    else if (c === "\n") out += "\\n";
    else if (c === "\r") out += "\\r";
    else if (isControl(code)) out += `\\u${code.toString(16).padStart(4, "0")}`;
    else out += c;
  }
  return out;
}

/** C0 controls, DEL and C1 controls. */
export function isControl(codePoint: number): boolean {
  return codePoint < 0x20 || (codePoint >= 0x7f && codePoint <= 0x9f);
}

/** One planned request as `plan --dry-run` prints it. */
export interface PlannedRequest {
  readonly row: number;
  readonly id: string;
  readonly band: string;
  /** The URL asked (request sources) or what the task will read (producing sources). */
  readonly what: string;
  /** Output path relative to the output folder. */
  readonly out: string;
  /** Why nothing will be asked (outside the survey's MOC); undefined when the task is fetched. */
  readonly skipped?: string;
  /** The target planned. */
  readonly target: Target;
}

/**
 * Plan without a ledger or network, for `--dry-run`: yields every request in order. Duplicate ids are
 * found with an in-memory set (a dry run prints every line anyway).
 */
export async function* dryRunPlan(
  source: Source,
  layout: string,
  events: AsyncIterable<CatalogEvent>,
  onSkip: (s: SkippedRow) => void,
  outside?: (t: Target, band: string) => string | undefined,
): AsyncGenerator<PlannedRequest> {
  const seenIds = new Set<string>();
  const seenSafe = new Map<string, string>();
  for await (const ev of events) {
    if (ev.kind === "bad") {
      onSkip(ev.bad);
      continue;
    }
    const t = ev.target;
    const name = productName(t);
    let s = name ?? safeId(t.id);
    if (name !== undefined && seenSafe.has(s)) s = name + idHashSuffix(t.id);
    if (seenIds.has(t.id)) {
      onSkip({
        row: t.row,
        reason: "duplicate_id",
        message: `id ${JSON.stringify(t.id)} already used by an earlier row`,
      });
      continue;
    }
    if (seenSafe.has(s)) {
      onSkip({
        row: t.row,
        reason: "id_collision",
        message: `id ${JSON.stringify(t.id)} maps to the same file name as another id (${s})`,
      });
      continue;
    }
    seenIds.add(t.id);
    seenSafe.set(s, t.id);
    for (const band of source.bands) {
      const skip = outside?.(t, band);
      yield {
        row: t.row,
        id: t.id,
        band,
        what:
          skip !== undefined
            ? `no_coverage: ${skip}`
            : isProducer(source)
              ? source.describeTask(t, band)
              : source.request(t, band).url,
        ...(skip === undefined ? {} : { skipped: skip }),
        target: t,
        // The stamp's extension (.png/.jpg for 8-bit stamps); an archive product's when known.
        out: outputRelPath(
          layout,
          band,
          s,
          t.row,
          (isProducer(source) ? source.extension?.(band) : source.extension?.(t)) ?? FITS_EXT,
        ),
      };
    }
  }
}
