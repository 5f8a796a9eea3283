/**
 * RA/Dec value parsing: decimal degrees, sexagesimal text (hours for RA, degrees for Dec) and unit hints
 * taken from a column's unit (VOTable `unit`, FITS `TUNITn`) or name.
 */

/** How a decimal or sexagesimal value of a column is to be read. */
export type AngleUnit = "deg" | "hour" | "rad";

/** The outcome of parsing one coordinate: degrees, or a stable reason code and a readable message. */
export type AngleResult =
  | { readonly ok: true; readonly deg: number }
  | { readonly ok: false; readonly reason: AngleFailure; readonly message: string };

/** Reason codes of a rejected coordinate (they end up in BadRow.reason). */
export type AngleFailure = "parse" | "nan" | "ra_range" | "dec_range" | "missing";

/** What the parser knows about the column a value came from. */
export interface AngleColumn {
  /** Column name, used in messages and as a unit hint ("ra_hms" means hours). */
  readonly name: string;
  /** Unit string from the file (VOTable `unit`, FITS `TUNITn`), if any. */
  readonly unit?: string;
}

const DECIMAL_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const NON_FINITE_RE = /^[+-]?(?:nan|inf|infinity)$/i;
/** Separators and unit marks that may sit between sexagesimal fields. */
const SEXA_SEPARATORS = /[:hdms°º'′"″\s]+/gi;
const SEXA_CHARS_RE = /^[+-]?\d+(?:\.\d*)?[:hdms°º'′"″\s\d.]*$/i;

/**
 * The unit a column's values are in, from its unit string, else its name; undefined when nothing says.
 * "h", "hour", "hourangle", "h:m:s", "hms" give hours; "deg", "degree", "d:m:s", "dms" degrees; "rad" radians.
 */
export function angleUnitOf(column: AngleColumn): AngleUnit | undefined {
  const unit = column.unit?.replace(/["']/g, "").trim().toLowerCase();
  if (unit !== undefined && unit !== "") {
    if (/^(h|hr|hrs|hour|hours|hourangle|h:m:s|hms)$/.test(unit)) return "hour";
    if (/^(deg|degs|degree|degrees|d:m:s|dms|°)$/.test(unit)) return "deg";
    if (/^(rad|radian|radians)$/.test(unit)) return "rad";
  }
  if (/hms|hours?$/i.test(column.name)) return "hour";
  return undefined;
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === "bigint") return `${value}`;
  return String(value);
}

function fail(
  reason: AngleFailure,
  axis: "ra" | "dec",
  value: unknown,
  col: AngleColumn,
  why: string,
): AngleResult {
  const label = axis === "ra" ? "RA" : "Dec";
  return { ok: false, reason, message: `${label} ${describe(value)} in column ${col.name}: ${why}` };
}

/**
 * Parse "hh:mm:ss.s", "hh mm ss", "12h34m56.7s", "-00:30:00", "+12d34m56s", "12 30" into a signed value in the
 * leading field's unit (hours or degrees). The sign of the first field applies to the whole value, so
 * "-00:30:00" is -0.5. Returns a message instead when a field is malformed or out of range.
 */
function parseSexagesimal(text: string): number | string {
  if (!SEXA_CHARS_RE.test(text)) return "not a number or sexagesimal angle";
  const sign = text.startsWith("-") ? -1 : 1;
  const body = text.replace(/^[+-]/, "").replace(SEXA_SEPARATORS, " ").trim();
  const parts = body.split(" ");
  if (parts.length < 2 || parts.length > 3) return "not a number or sexagesimal angle";
  const nums: number[] = [];
  for (const [i, p] of parts.entries()) {
    const last = i === parts.length - 1;
    // Only the last field may carry a fraction ("12 30.5" is 12h30.5m).
    if (!(last ? /^(?:\d+\.?\d*|\.\d+)$/ : /^\d+$/).test(p)) return "not a number or sexagesimal angle";
    nums.push(Number(p));
  }
  const [a = 0, m = 0, s = 0] = nums;
  if (m >= 60) return "minutes must be below 60";
  if (s >= 60) return "seconds must be below 60";
  return sign * (a + m / 60 + s / 3600);
}

type Numeric = { value: number; sexagesimal: boolean } | AngleResult;

function toNumber(axis: "ra" | "dec", value: unknown, col: AngleColumn): Numeric {
  if (value === null || value === undefined) return fail("missing", axis, value, col, "no value");
  if (typeof value === "number") {
    return Number.isFinite(value)
      ? { value, sexagesimal: false }
      : fail("nan", axis, value, col, "not a finite number");
  }
  if (typeof value === "bigint") return { value: Number(value), sexagesimal: false };
  if (typeof value !== "string") return fail("parse", axis, value, col, "not a single number");
  const text = value.trim();
  if (text === "") return fail("missing", axis, value, col, "empty");
  if (NON_FINITE_RE.test(text)) return fail("nan", axis, value, col, "not a finite number");
  if (DECIMAL_RE.test(text)) return { value: Number(text), sexagesimal: false };
  const sexa = parseSexagesimal(text);
  if (typeof sexa === "string") return fail("parse", axis, value, col, sexa);
  return { value: sexa, sexagesimal: true };
}

/**
 * Right ascension in degrees from a cell value. Sexagesimal text is read as hours (unless the column unit
 * says "d:m:s"); decimal values as degrees (unless the unit says hours or radians). Rejects missing values,
 * NaN/infinities, garbage and anything outside [0, 360) (24h is rejected, not wrapped).
 */
export function parseRa(value: unknown, column: AngleColumn): AngleResult {
  const n = toNumber("ra", value, column);
  if ("ok" in n) return n;
  const unit = angleUnitOf(column) ?? (n.sexagesimal ? "hour" : "deg");
  const sexaUnit =
    n.sexagesimal && column.unit !== undefined && /d:m:s|dms/i.test(column.unit) ? "deg" : "hour";
  const effective = n.sexagesimal ? sexaUnit : unit;
  const deg = effective === "hour" ? n.value * 15 : effective === "rad" ? (n.value * 180) / Math.PI : n.value;
  if (!(deg >= 0 && deg < 360)) {
    return fail("ra_range", "ra", value, column, `${deg} deg is outside [0, 360)`);
  }
  return { ok: true, deg };
}

/**
 * Declination in degrees from a cell value: decimal degrees or sexagesimal "±dd:mm:ss" (radians when the
 * column unit says "rad"). Rejects missing values, NaN/infinities, garbage and anything outside [-90, 90].
 */
export function parseDec(value: unknown, column: AngleColumn): AngleResult {
  const n = toNumber("dec", value, column);
  if ("ok" in n) return n;
  const deg = !n.sexagesimal && angleUnitOf(column) === "rad" ? (n.value * 180) / Math.PI : n.value;
  if (!(deg >= -90 && deg <= 90)) {
    return fail("dec_range", "dec", value, column, `${deg} deg is outside [-90, 90]`);
  }
  return { ok: true, deg };
}
