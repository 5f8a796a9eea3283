import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command, Option } from "commander";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildProgram } from "../../src/cli/index.js";
import { isListOption } from "../../src/cli/option-spec.js";
import { VocutError } from "../../src/errors.js";
import { runCli, tempDir } from "../helpers/cli.js";

/**
 * Issue 10, part 9: every option of every command, introspected from the real commander program. A list
 * option given twice accumulates exactly as its comma form; any other option given twice with different
 * values is a usage error (exit 2) naming it, the same value twice is accepted; flags may repeat.
 */

/** A fresh program whose commands record their parsed options instead of running. */
function program(): { p: Command; opts: () => Record<string, unknown> } {
  let captured: Record<string, unknown> | undefined;
  const p = buildProgram(() => {});
  for (const c of p.commands)
    c.action((...args: unknown[]) => {
      captured = (args.at(-1) as Command).opts();
    });
  return {
    p,
    opts: () => {
      if (captured === undefined) throw new Error("the command did not run");
      return captured;
    },
  };
}

/** Arguments a command needs besides the option under test: its required arguments and options. */
function minimal(cmd: Command, except: Option): string[] {
  const args = cmd.registeredArguments.filter((a) => a.required).map(() => "ARG");
  for (const o of cmd.options) if (o.mandatory && o !== except) args.push(o.long as string, "MANDATORY");
  return args;
}

async function parse(cmdName: string, args: string[]): Promise<Record<string, unknown>> {
  const { p, opts } = program();
  await p.parseAsync([cmdName, ...args], { from: "user" });
  return opts();
}

const commands = buildProgram(() => {}).commands;
const cases = commands.flatMap((cmd) =>
  cmd.options.map((o) => ({ cmd, o, name: `${cmd.name()} ${o.flags}` })),
);

describe("repeated options, every option of every command", () => {
  it("covers every command and the list options", () => {
    expect(commands.map((c) => c.name()).sort()).toEqual(
      ["export", "fetch", "merge", "obscore", "plan", "presets", "preview", "retry", "run", "status"].sort(),
    );
    expect(cases.length).toBeGreaterThan(150);
    const lists = cases.filter((c) => isListOption(c.o)).map((c) => c.name);
    for (const cmd of ["run", "plan"])
      for (const flag of [
        "--hips2fits <ids>",
        "--hips2fits-url <urls>",
        "--hips <locations>",
        "--band <windows>",
        "--bands <list>",
      ])
        expect(lists).toContain(`${cmd} ${flag}`);
  });

  it.each(cases)("$name", async ({ cmd, o }) => {
    const flag = o.long ?? (o.short as string);
    const key = o.attributeName();
    const base = minimal(cmd, o);
    if (!o.required && !o.optional) {
      // A flag: repeating it changes nothing.
      const v = await parse(cmd.name(), [...base, flag, flag]);
      expect(v[key]).toBe(!o.negate);
      return;
    }
    if (isListOption(o)) {
      const repeated = await parse(cmd.name(), [...base, flag, "a", flag, "b,c", `${flag}=d`]);
      const commaForm = await parse(cmd.name(), [...base, flag, "a,b,c,d"]);
      expect(repeated[key]).toBe("a,b,c,d");
      expect(repeated[key]).toEqual(commaForm[key]);
      return;
    }
    // The same value twice is harmless.
    expect((await parse(cmd.name(), [...base, flag, "a", flag, "a"]))[key]).toBe("a");
    const err = await parse(cmd.name(), [...base, flag, "a", `${flag}=b`]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(VocutError);
    expect((err as VocutError).exitCode).toBe(2);
    expect((err as VocutError).message).toBe(`${o.long ?? o.short} given twice: a and b`);
    if (o.short !== undefined) {
      const short = await parse(cmd.name(), [...base, o.short, "a", flag, "b"]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((short as VocutError).exitCode).toBe(2);
    }
  });

  describe("a default or an environment variable is not a repeat", () => {
    const saved = { ...process.env };
    afterEach(() => {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    });
    const withEnv = cases.filter((c) => c.o.envVar !== undefined);
    it.each(withEnv)("$name", async ({ cmd, o }) => {
      process.env[o.envVar as string] = "from-env";
      const base = minimal(cmd, o);
      const key = o.attributeName();
      expect((await parse(cmd.name(), base))[key]).toBe("from-env");
      expect((await parse(cmd.name(), [...base, o.long as string, "x"]))[key]).toBe("x");
    });
    it("has options with defaults and environment variables to check", () => {
      expect(withEnv.length).toBeGreaterThan(5);
    });
  });
});

describe("repeated options through the built CLI", () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(() => tmp.cleanup());

  it("--band twice plans both bands (the job once ran on the last one alone), --size twice exits 2", async () => {
    const cat = join(tmp.dir, "c.csv");
    writeFileSync(cat, "id,ra,dec\na,10,20\n");
    const plan = [
      "plan",
      cat,
      "--out",
      join(tmp.dir, "out"),
      "--sia",
      "http://127.0.0.1:9/sia",
      "--band",
      "SYN_G=4e-7:5.5e-7",
      "--band",
      "SYN_R=5.5e-7:7e-7",
      "--dry-run",
    ];
    const r = await runCli(plan);
    expect(r.code, r.stderr).toBe(0);
    expect(
      r.stdout
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => l.split("\t")[0]),
    ).toEqual(["SYN_G", "SYN_R"]);
    const twice = await runCli([...plan, "--size", "28", "--size", "32"]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toBe("vocut: --size given twice: 28 and 32\n");
    expect((await runCli([...plan, "--size", "28", "--size", "28"])).code).toBe(0);
  });
});
