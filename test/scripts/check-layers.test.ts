import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/cli.js";

const script = join(import.meta.dirname, "../../scripts/check-layers.mjs");

function tree(files: Record<string, string>): string {
  const t = tempDir("vocut-layers-");
  cleanups.push(t.cleanup);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(t.dir, path)), { recursive: true });
    writeFileSync(join(t.dir, path), text);
  }
  return t.dir;
}

function check(root?: string): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, root === undefined ? [script] : [script, root], { encoding: "utf8" });
  return { status: r.status, out: r.stdout + r.stderr };
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

describe("scripts/check-layers.mjs", () => {
  it("passes on the project's own tree", () => {
    const r = check();
    expect(r.out).toMatch(/no new one/);
    expect(r.status).toBe(0);
  });

  it("fails on an import up a layer, naming it", () => {
    const root = tree({
      "src/fits/header.ts": 'import { x } from "../cli/options.js";\nexport const y = x;\n',
      "src/cli/options.ts": "export const x = 1;\n",
    });
    const r = check(root);
    expect(r.status).toBe(1);
    expect(r.out).toContain("upward import: src/fits/header.ts -> src/cli");
  });

  it("fails when the run loop imports a kind of source, and accepts downward imports", () => {
    const bad = check(
      tree({
        "src/run/run-job.ts": 'import type { T } from "../sources/hips/resample.js";\nexport type U = T;\n',
        "src/sources/hips/resample.ts": "export type T = number;\n",
      }),
    );
    expect(bad.status).toBe(1);
    expect(bad.out).toContain("run names a kind of source");
    const good = check(
      tree({
        "src/cli/index.ts": 'export { y } from "../fits/header.js";\n',
        "src/fits/header.ts": 'import { e } from "../errors.js";\nexport const y = e;\n',
        "src/errors.ts": "export const e = 1;\n",
      }),
    );
    expect(good.status).toBe(0);
  });

  it("fails when the run loop branches on a kind of source by name", () => {
    const files = {
      "src/sources/products/products-source.ts": "export const k = 1;\n",
      "src/sources/source.ts": "export type S = { kind: string };\n",
    };
    const bad = check(
      tree({
        ...files,
        "src/run/fetch-all.ts":
          'import type { S } from "../sources/source.js";\n// "products" in a comment is fine\nexport const big = (s: S) => s.kind === "products";\n',
      }),
    );
    expect(bad.status).toBe(1);
    expect(bad.out).toContain('src/run/fetch-all.ts:3 names the source kind "products"');
    const good = check(
      tree({
        ...files,
        "src/run/fetch-all.ts":
          'import type { S } from "../sources/source.js";\n// "products" in a comment is fine\nexport const k = (s: S) => s.kind;\n',
      }),
    );
    expect(good.out).not.toContain("names the source kind");
    expect(good.status).toBe(0);
  });

  it("fails on a folder with no layer", () => {
    const r = check(
      tree({
        "src/newthing/a.ts": 'import { e } from "../errors.js";\nexport const a = e;\n',
        "src/errors.ts": "export const e = 1;\n",
      }),
    );
    expect(r.status).not.toBe(0);
    expect(r.out).toContain("src/newthing/ has no layer");
  });
});
