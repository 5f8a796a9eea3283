import { describe, expect, expectTypeOf, it } from "vitest";
import { buildProgram } from "../../src/cli/index.js";
import { envHelp, type OptionSpec, toOption } from "../../src/cli/option-spec.js";
import {
  COMMAND_OPTIONS,
  OPTION,
  OPTION_TABLE,
  type OptionsOf,
  type RawOptions,
} from "../../src/cli/options.js";
import { DEFAULTS } from "../../src/fetch/defaults.js";

/** Issue 11: one option table gives every command its options, defaults, variables, help and types. */
describe("the option table", () => {
  it("keys every row by commander's attribute name, once", () => {
    for (const r of OPTION_TABLE) expect(toOption(r).attributeName()).toBe(r.key);
    expect(new Set(OPTION_TABLE.map((r) => r.key)).size).toBe(OPTION_TABLE.length);
    expect(() => toOption({ ...OPTION.rate, key: "speed" })).toThrow(/--rate <n> has key speed/);
  });

  it("is where every command takes its options from, in table order", () => {
    for (const cmd of buildProgram(() => {}).commands) {
      const rows: readonly OptionSpec[] = COMMAND_OPTIONS[cmd.name() as keyof typeof COMMAND_OPTIONS];
      expect(rows, cmd.name()).toBeDefined();
      expect(cmd.options.map((o) => [o.flags, o.description, o.defaultValue, o.envVar, o.mandatory])).toEqual(
        rows.map((r) => [r.flags, r.description, r.defaultValue, r.env, r.mandatory === true]),
      );
    }
  });

  it("takes the politeness defaults from DEFAULTS", () => {
    expect(OPTION.concurrency.defaultValue).toBe(String(DEFAULTS.concurrency));
    expect(OPTION.rate.defaultValue).toBe(String(DEFAULTS.ratePerSec));
    expect(OPTION.burst.defaultValue).toBe(String(DEFAULTS.burst));
    expect(Number(OPTION.timeout.defaultValue) * 1000).toBe(DEFAULTS.timeoutMs);
    expect(OPTION.retries.defaultValue).toBe(String(DEFAULTS.retries));
    expect(OPTION.pauseAfter.defaultValue).toBe(String(DEFAULTS.pacer.breakerFailures));
    expect(Number(OPTION.pause.defaultValue) * 1000).toBe(DEFAULTS.pacer.breakerPauseMs);
    expect(OPTION.giveUpAfter.defaultValue).toBe(String(DEFAULTS.pacer.breakerMaxOpens));
    expect(OPTION.maxBytes.description).toContain(String(DEFAULTS.maxBytes));
    expect(OPTION.maxBytes.description).toContain(String(DEFAULTS.productMaxBytes));
  });

  it("lists a command's environment variables in its help", () => {
    const rows: readonly OptionSpec[] = COMMAND_OPTIONS.fetch;
    const help = envHelp(rows);
    for (const r of rows)
      if (r.env !== undefined) expect(help).toMatch(new RegExp(`\\n  ${r.env} +${r.flags.split(" ")[0]}`));
    expect(help).not.toContain("VOCUT_HIPS2FITS_URL");
    expect(envHelp(COMMAND_OPTIONS.presets)).toBe("");
  });

  it("types the parsed options from the rows", () => {
    expectTypeOf<OptionsOf<"run">["rate"]>().toEqualTypeOf<string>();
    expectTypeOf<OptionsOf<"run">["maxDuration"]>().toEqualTypeOf<string | undefined>();
    expectTypeOf<OptionsOf<"run">["quiet"]>().toEqualTypeOf<boolean | undefined>();
    expectTypeOf<OptionsOf<"export">["out"]>().toEqualTypeOf<string>();
    expectTypeOf<OptionsOf<"plan">["rate"]>().toEqualTypeOf<string>(); // the --dry-run mode comparison
    expectTypeOf<OptionsOf<"plan">>().not.toHaveProperty("concurrency");
    expectTypeOf<OptionsOf<"obscore">>().not.toHaveProperty("tileCacheMb");
    expectTypeOf<RawOptions["dryRun"]>().toEqualTypeOf<boolean | undefined>();
  });
});
