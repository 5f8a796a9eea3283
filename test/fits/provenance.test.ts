import { describe, expect, it } from "vitest";
import { provenanceCards } from "../../src/fits/provenance.js";
import { VERSION } from "../../src/version.js";

describe("provenanceCards", () => {
  it("writes BAND, the source's keys, ORIGIN, then history text, in that order", () => {
    const cards = provenanceCards({
      band: "g",
      how: "client-side HiPS cutout",
      keys: [{ key: "HIPSORD", value: 12 }],
      history: ["cut from HiPS ivo://x/P/y"],
    });
    expect(cards).toEqual([
      { key: "BAND", value: "g", comment: "vocut band label" },
      { key: "HIPSORD", value: 12 },
      { key: "ORIGIN", value: `vocut ${VERSION}`, comment: "client-side HiPS cutout" },
      { key: "HISTORY", value: "cut from HiPS ivo://x/P/y" },
    ]);
  });

  it("splits long text into HISTORY lines of 70 ASCII characters, at most 8 per text", () => {
    const url = `from: https://example.org/${"a".repeat(150)}é`;
    const lines = provenanceCards({ band: "K", how: "x", history: [url, "z".repeat(1000)] })
      .filter((c) => c.key === "HISTORY")
      .map((c) => String(c.value));
    expect(lines.slice(0, 3).join("")).toBe(url.replace("é", "?"));
    expect(lines.slice(0, 3).map((l) => l.length)).toEqual([70, 70, url.length - 140]);
    expect(lines.length).toBe(3 + 8);
  });
});
