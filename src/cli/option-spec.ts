import { type Command, Option } from "commander";
import { usageError } from "../errors.js";

/**
 * One row of the option table: every option of every command is one (src/cli/options.ts), and commander
 * flags, environment variables, defaults, the help text and the parsed options' type all come from it.
 * A command picks rows by key or group (COMMAND_OPTIONS); a row can be specialised for one command by
 * spreading it with another description (`{ ...OPTION.json, description: "..." }`).
 */
export interface OptionSpec {
  /** The parsed options' attribute: commander's camelCase of the long flag (checked when the Option is made). */
  readonly key: string;
  /** Commander flags: `--name <value>` takes a value (a string), `--name` alone is a boolean. */
  readonly flags: string;
  readonly description: string;
  /** Computed from the constant it shows (DEFAULTS, ...), never a copy of its value. */
  readonly defaultValue?: string;
  /** Environment variable that sets this option when the flag is absent (flag > env > default). */
  readonly env?: string;
  readonly group:
    | "catalog"
    | "source"
    | "geometry"
    | "output"
    | "store"
    | "politeness"
    | "reporting"
    | "plan"
    | "job"
    | "products"
    | "export"
    | "preview";
  /**
   * A comma-separated list: given twice, the values accumulate exactly as their comma form would
   * (`--bands g --bands r` = `--bands g,r`). Any other option with a value given twice with different
   * values is a usage error (see guardRepeats()).
   */
  readonly list?: boolean;
  /** The command fails without it (commander's requiredOption). */
  readonly mandatory?: boolean;
}

/** A flag with a value parses to a string, a flag without one to a boolean. */
type ValueOf<R extends OptionSpec> = R["flags"] extends `${string}<${string}>` ? string : boolean;
/** Commander always sets an option with a default, and a mandatory one. */
type AlwaysSet<R> = R extends { readonly defaultValue: string } | { readonly mandatory: true } ? true : false;
type Simplify<T> = { [K in keyof T]: T[K] } & {};

/**
 * The parsed options of `rows` as commander hands them over: one field per row, a string for a flag with
 * a value (until validated), a boolean for one without; optional unless the row has a default or is
 * mandatory. Adding a row to a command adds its field.
 */
export type OptionValues<Rs extends readonly OptionSpec[]> = Simplify<
  { -readonly [R in Rs[number] as AlwaysSet<R> extends true ? R["key"] : never]: ValueOf<R> } & {
    -readonly [R in Rs[number] as AlwaysSet<R> extends true ? never : R["key"]]?: ValueOf<R>;
  }
>;

/** The rows' defaults by key (what commander sets when neither the flag nor its variable is given). */
export function defaultsOf<Rs extends readonly OptionSpec[]>(
  rows: Rs,
): { [R in Rs[number] as R extends { readonly defaultValue: string } ? R["key"] : never]: string } {
  const out: Record<string, string> = {};
  for (const r of rows) if (r.defaultValue !== undefined) out[r.key] = r.defaultValue;
  return out as never;
}

/** Options whose repeats accumulate (OptionSpec.list). */
const LIST_OPTIONS = new WeakSet<Option>();

/** One row as a commander Option. Throws if the row's key is not the Option's attribute name. */
export function toOption(s: OptionSpec): Option {
  const o = new Option(s.flags, s.description);
  if (o.attributeName() !== s.key) throw new Error(`option table: ${s.flags} has key ${s.key}`);
  if (s.defaultValue !== undefined) o.default(s.defaultValue);
  if (s.env !== undefined) o.env(s.env);
  if (s.mandatory === true) o.makeOptionMandatory();
  if (s.list === true) LIST_OPTIONS.add(o);
  return o;
}

/**
 * The environment variables of `rows` as a help section ("" when none): each variable sets its flag
 * when the flag is absent (flag > variable > default).
 */
export function envHelp(rows: readonly OptionSpec[]): string {
  const withEnv = rows.filter((r): r is OptionSpec & { env: string } => r.env !== undefined);
  if (withEnv.length === 0) return "";
  const width = Math.max(...withEnv.map((r) => r.env.length));
  const long = (r: OptionSpec) => new Option(r.flags).long ?? r.flags;
  return `\nEnvironment variables (a flag given wins):\n${withEnv.map((r) => `  ${r.env.padEnd(width)}  ${long(r)}`).join("\n")}`;
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
