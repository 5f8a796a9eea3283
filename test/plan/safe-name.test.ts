import { join, relative, resolve } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkLayout, insideDir, outputRelPath } from "../../src/plan/layout.js";
import { MAX_SAFE_ID_BYTES, safeId } from "../../src/plan/safe-name.js";

describe("safeId", () => {
  it("keeps ordinary ids unchanged", () => {
    for (const id of ["1237648720693755918", "SDSS_J123456.78+123456.7", "NGC-1275", "a=b@c,d"])
      expect(safeId(id)).toBe(id);
  });

  it.each([
    ["../../etc/passwd"],
    ["/etc/passwd"],
    ["a\u0000b"],
    ["line\nbreak\r\t"],
    [".."],
    ["."],
    [".hidden"],
    ["C:\\Windows\\x"],
    [""],
    ["x".repeat(1000)],
    ["ü/ö"],
  ])("maps the hostile id %j to one plain file name", (id) => {
    const s = safeId(id);
    expect(s).toMatch(/^[A-Za-z0-9._+\-=@,~]+$/);
    expect(s.startsWith(".")).toBe(false);
    expect(Buffer.byteLength(s)).toBeLessThanOrEqual(MAX_SAFE_ID_BYTES);
    expect(s).not.toBe(id);
    expect(safeId(id)).toBe(s); // deterministic
  });

  it("never maps two different ids to the same name (property)", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.string({ maxLength: 200 }), (a, b) => {
        fc.pre(a.normalize("NFC") !== b.normalize("NFC"));
        return safeId(a) !== safeId(b);
      }),
      { numRuns: 5000 },
    );
  });

  it("keeps every output path inside the folder (property)", () => {
    const out = resolve("/tmp/vocut-out");
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.string({ maxLength: 20 }), (id, band) => {
        const p = insideDir(out, outputRelPath("{band}/{id}.fits", band, safeId(id), 1));
        const rel = relative(out, p);
        return !rel.startsWith("..") && rel.split("/").length === 2;
      }),
      { numRuns: 5000 },
    );
  });
});

describe("layout", () => {
  it("accepts the default and rejects layouts that collide or escape", () => {
    expect(() => checkLayout("{band}/{id}.fits", 5)).not.toThrow();
    expect(() => checkLayout("{id}.fits", 1)).not.toThrow();
    expect(() => checkLayout("{id}.fits", 2)).toThrow(/\{band\}/);
    expect(() => checkLayout("{band}.fits", 2)).toThrow(/\{id\}/);
    expect(() => checkLayout("../{band}/{id}.fits", 2)).toThrow(/inside/);
    expect(() => checkLayout("/abs/{band}/{id}", 2)).toThrow(/relative/);
    expect(() => checkLayout("{band}/{name}.fits", 2)).toThrow(/unknown placeholder/);
    expect(outputRelPath("{band}/{row}-{id}.fits", "g", "x", 7)).toBe(join("g", "7-x.fits"));
  });
});
