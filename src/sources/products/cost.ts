import type { CatalogEvent } from "../../catalog/types.js";
import { parseVotable } from "../../votable/votable.js";

/**
 * What a product query will cost before anything is downloaded (issue 13): rows, distinct products and the
 * sum of ObsCore `access_estsize` (kB) by obs_collection and dataproduct_type, and the time the requests
 * take at the allowed rate. On a TAP service the figures come from an ADQL aggregate query (the service
 * counts, nothing is listed); for a list file they are counted locally.
 */

/** One (collection, product type) group. */
export interface CostGroup {
  readonly collection: string;
  readonly type: string;
  readonly rows: number;
  /** Distinct access URLs (undefined for --describe, which counts rows only). */
  readonly products?: number;
  /** Sum of access_estsize, kB; rows without one count 0 (see `unsized`). */
  readonly estKb: number;
}

/** The whole query or list. */
export interface CostSummary {
  readonly rows: number;
  readonly products?: number;
  readonly estKb: number;
  readonly groups: readonly CostGroup[];
}

/*
 * Both aggregates are written so that DaCHS 2.7 can serialise them (checked against a real DaCHS service,
 * scripts/dachs-check.sh). DaCHS types SUM(x) as x's type while PostgreSQL answers a numeric for the sum of
 * a bigint, which its VOTable writer refuses ("Field 'est_kb', value '587.0': required argument is not an
 * integer"): every SUM here sums `1.0 * x`, a double. And DaCHS gives COUNT(x) the display hint of x, so
 * COUNT(DISTINCT access_url) is formatted as a product link ("'int' object has no attribute 'rfind'"):
 * distinct products are counted as the rows of a derived table grouped by access_url instead. Plain ADQL
 * 2.0 either way.
 */

/** ADQL of `--describe`: every collection and product type of the service's ObsCore table. */
export const DESCRIBE_ADQL =
  "SELECT obs_collection, dataproduct_type, COUNT(*) AS n_rows, SUM(1.0 * access_estsize) AS est_kb " +
  "FROM ivoa.obscore GROUP BY obs_collection, dataproduct_type";

/**
 * ADQL of `--dry-run`: the user's query as a derived table (ADQL 2.0), grouped by product (access_url) and
 * then by collection and product type. The query must select obs_collection, dataproduct_type, access_url
 * and access_estsize (SELECT * does).
 */
export function dryRunAdql(adql: string): string {
  const inner = adql.trim().replace(/;\s*$/, "");
  return (
    "SELECT p.obs_collection, p.dataproduct_type, SUM(1.0 * p.n) AS n_rows, COUNT(*) AS n_products, " +
    "SUM(p.est_kb) AS est_kb FROM (SELECT q.obs_collection, q.dataproduct_type, q.access_url, " +
    `COUNT(*) AS n, SUM(1.0 * q.access_estsize) AS est_kb FROM (${inner}) AS q ` +
    "GROUP BY q.obs_collection, q.dataproduct_type, q.access_url) AS p " +
    "GROUP BY p.obs_collection, p.dataproduct_type"
  );
}

function num(v: unknown): number {
  const n = typeof v === "number" ? v : Number(v);
  return Number.isFinite(n) ? n : 0;
}

function text(v: unknown): string {
  return v === null || v === undefined ? "" : String(v).trim();
}

function summarise(groups: CostGroup[], products: boolean): CostSummary {
  groups.sort((a, b) => a.collection.localeCompare(b.collection) || a.type.localeCompare(b.type));
  const sum = (f: (g: CostGroup) => number): number => groups.reduce((s, g) => s + f(g), 0);
  return {
    rows: sum((g) => g.rows),
    ...(products ? { products: sum((g) => g.products ?? 0) } : {}),
    estKb: sum((g) => g.estKb),
    groups,
  };
}

/** Read the result of DESCRIBE_ADQL or dryRunAdql() (columns by name, in any case). */
export async function costFromVotable(body: Buffer): Promise<CostSummary> {
  const t = await parseVotable(body);
  const at = (name: string): number => t.fields.findIndex((f) => f.name.toLowerCase() === name);
  const [c, ty, n, p, e] = ["obs_collection", "dataproduct_type", "n_rows", "n_products", "est_kb"].map(
    at,
  ) as [number, number, number, number, number];
  if (n < 0 || e < 0) throw new Error("the aggregate result has no n_rows/est_kb columns");
  const groups: CostGroup[] = [];
  for await (const r of t.rows) {
    const v = r.values as unknown[];
    groups.push({
      collection: c < 0 ? "" : text(v[c]),
      type: ty < 0 ? "" : text(v[ty]),
      rows: num(v[n]),
      ...(p < 0 ? {} : { products: num(v[p]) }),
      estKb: num(v[e]),
    });
  }
  return summarise(groups, p >= 0);
}

/** Count a product list locally (rows, distinct URLs per group, access_estsize); bad rows are not counted. */
export async function costOfList(events: AsyncIterable<CatalogEvent>): Promise<CostSummary> {
  const groups = new Map<string, { g: Omit<CostGroup, "products">; urls: Set<string> }>();
  for await (const ev of events) {
    if (ev.kind !== "target" || ev.target.product === undefined) continue;
    const p = ev.target.product;
    const collection = p.collection ?? "";
    const type = p.productType ?? "";
    const key = JSON.stringify([collection, type]);
    const cur = groups.get(key) ?? { g: { collection, type, rows: 0, estKb: 0 }, urls: new Set<string>() };
    cur.g = { ...cur.g, rows: cur.g.rows + 1, estKb: cur.g.estKb + (p.estKb ?? 0) };
    cur.urls.add(p.url);
    groups.set(key, cur);
  }
  return summarise(
    [...groups.values()].map((x) => ({ ...x.g, products: x.urls.size })),
    true,
  );
}

/** kB (ObsCore access_estsize) as "812 kB", "1.3 GB", "1.3 TB" (1 kB = 1000 bytes, as ObsCore's unit says). */
export function formatKb(kb: number): string {
  const units = ["kB", "MB", "GB", "TB", "PB"];
  let v = kb;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${Math.round(v)} kB` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

/** Seconds as "45 s", "12 min", "3.4 h", "4.2 days". */
export function formatSpan(seconds: number): string {
  if (seconds < 120) return `${Math.ceil(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 2 * 86400) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}

/** The lines `--describe` / `--dry-run` print: a table by collection and type, then the totals. */
export function formatCost(s: CostSummary, ratePerSec?: number): string[] {
  const head = ["collection", "type", "rows", ...(s.products === undefined ? [] : ["products"]), "est. size"];
  const body = s.groups.map((g) => [
    g.collection === "" ? "-" : g.collection,
    g.type === "" ? "-" : g.type,
    String(g.rows),
    ...(g.products === undefined ? [] : [String(g.products)]),
    formatKb(g.estKb),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]): string =>
    r
      .map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  const out = [line(head), ...body.map(line)];
  const n = s.products ?? s.rows;
  out.push(
    `total: ${s.rows} row(s)${s.products === undefined ? "" : `, ${s.products} distinct product(s)`}, ` +
      `estimated ${formatKb(s.estKb)} (${s.estKb} kB of access_estsize)`,
  );
  if (ratePerSec !== undefined) {
    out.push(
      `time at --rate ${ratePerSec}/s: ${formatSpan(n / ratePerSec)} for ${n} request(s), before transfer time`,
    );
  }
  return out;
}
