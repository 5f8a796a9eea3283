import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readImage } from "../../src/fits/image.js";
import { validateFits } from "../../src/fits/validate.js";
import { buildOursFixtures, fixture, norm, OURS_DIR, type OursFile, readJson } from "./fixtures.js";

// fixtures/fits/ours/ holds files our encoder wrote and astropy checked (make_fixtures.py --ours). This test
// pins the encoder's output to those exact bytes, so astropy's verdict stays valid for the current code.
// After an intended change to the encoder: VOCUT_WRITE_FIXTURES=1 npx vitest run test/fits/ours, then
// /usr/bin/python3 fixtures/fits/make_fixtures.py --ours, and commit both.
const built = buildOursFixtures();
const manifest = { files: built.map((b) => b.entry) };

if (process.env.VOCUT_WRITE_FIXTURES === "1") {
  mkdirSync(OURS_DIR, { recursive: true });
  for (const b of built) writeFileSync(join(OURS_DIR, b.file), b.bytes);
  writeFileSync(join(OURS_DIR, "manifest.json"), `${JSON.stringify(manifest)}\n`);
}

describe("files our encoder writes (checked by astropy)", () => {
  it("match the committed bytes that astropy verified", () => {
    expect(readJson<{ files: OursFile[] }>(join(OURS_DIR, "manifest.json"))).toEqual(
      JSON.parse(JSON.stringify(manifest)),
    );
    for (const b of built) {
      expect(existsSync(join(OURS_DIR, b.file)), b.file).toBe(true);
      expect(fixture(OURS_DIR, b.file).equals(b.bytes), `${b.file} differs from the committed file`).toBe(
        true,
      );
    }
  });

  it.each(built.map((b) => [b.file, b] as const))("%s passes validateFits and reads back", (_name, b) => {
    expect(validateFits(b.bytes)).toEqual({ ok: true, hdus: b.entry.hdus.length, bytes: b.bytes.length });
    const last = b.entry.hdus[b.entry.hdus.length - 1];
    if (last === undefined) throw new Error("no HDU");
    const img = readImage(b.bytes);
    expect(norm(img.data)).toEqual(last.data.map(norm));
    for (const [key, value] of Object.entries(last.cards))
      expect(norm(img.header.get(key)), key).toEqual(value);
  });
});
