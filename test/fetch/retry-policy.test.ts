import { describe, expect, it } from "vitest";
import { DEFAULTS } from "../../src/fetch/defaults.js";
import { FetchError } from "../../src/fetch/http-client.js";
import { backoffMs, classifyError, classifyStatus, parseRetryAfter } from "../../src/fetch/retry-policy.js";
import { seeded } from "../helpers/prng.js";

describe("parseRetryAfter", () => {
  const now = Date.parse("2026-11-25T10:00:00Z");

  it("reads delta-seconds", () => {
    expect(parseRetryAfter("120", now)).toBe(120_000);
    expect(parseRetryAfter(" 0 ", now)).toBe(0);
    expect(parseRetryAfter(["7", "9"], now)).toBe(7_000);
  });

  it("reads all three HTTP-date forms, relative to now", () => {
    expect(parseRetryAfter("Wed, 25 Nov 2026 10:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Wednesday, 25-Nov-26 10:01:00 GMT", now)).toBe(60_000);
    expect(parseRetryAfter("Wed Nov 25 10:00:05 2026", now)).toBe(5_000);
    expect(parseRetryAfter("Wed Dec  2 10:00:00 2026", now)).toBe(DEFAULTS.maxRetryAfterMs);
  });

  it("clamps the past to 0 and the far future to the cap", () => {
    expect(parseRetryAfter("Wed, 25 Nov 2026 09:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("999999999", now)).toBe(DEFAULTS.maxRetryAfterMs);
    expect(parseRetryAfter("99999999999999999999999", now)).toBe(DEFAULTS.maxRetryAfterMs);
    expect(parseRetryAfter("600", now, 300_000)).toBe(300_000);
  });

  it("ignores garbage, including what Date.parse would accept", () => {
    for (const v of [
      "soon",
      "-5",
      "1.5",
      "1e3",
      "",
      "   ",
      "2026-11-25T10:00:30Z",
      "foo 2027",
      "Nov 25 2026",
      "Wed, 32 Nov 2026 10:00:00 GMT",
      "Wed, 25 Foo 2026 10:00:00 GMT",
    ])
      expect(parseRetryAfter(v, now), v).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter([], now)).toBeUndefined();
  });
});

describe("backoffMs (full jitter)", () => {
  it("is random * min(cap, base * 2^attempt), floored", () => {
    expect(backoffMs(0, () => 0.5, 1000, 60_000)).toBe(500);
    expect(backoffMs(3, () => 0.5, 1000, 60_000)).toBe(4000);
    expect(backoffMs(5, () => 0, 1000, 60_000)).toBe(0);
    expect(backoffMs(20, () => 0.999999, 1000, 60_000)).toBe(59_999);
    expect(backoffMs(0, () => 1, 1000, 60_000)).toBe(999); // never reaches the ceiling
    expect(backoffMs(10_000, () => 0.5)).toBe(DEFAULTS.backoffCapMs / 2);
  });

  it("stays within [0, min(cap, base * 2^n)) for a seeded random, and spreads over that range", () => {
    const random = seeded(42);
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = Math.min(60_000, 1000 * 2 ** attempt);
      const waits = Array.from({ length: 200 }, () => backoffMs(attempt, random, 1000, 60_000));
      const outside = waits.filter((w) => !Number.isInteger(w) || w < 0 || w >= ceiling);
      expect(outside).toEqual([]);
      // full jitter, not "ceiling plus a little": both halves of the range are used
      expect(Math.min(...waits)).toBeLessThan(ceiling * 0.25);
      expect(Math.max(...waits)).toBeGreaterThan(ceiling * 0.75);
    }
  });

  it("rejects a bad attempt with a TypeError", () => {
    expect(() => backoffMs(-1)).toThrow(TypeError);
    expect(() => backoffMs(1.5)).toThrow(/attempt/);
  });
});

describe("classifyStatus", () => {
  it("2xx ok; 408, 425, 429 and 5xx retryable; other 4xx (and stray 1xx/3xx) permanent", () => {
    const cases: Array<[number, string]> = [
      [200, "ok"],
      [204, "ok"],
      [206, "ok"],
      [408, "retryable"],
      [425, "retryable"],
      [429, "retryable"],
      [500, "retryable"],
      [502, "retryable"],
      [503, "retryable"],
      [504, "retryable"],
      [599, "retryable"],
      [400, "permanent"],
      [401, "permanent"],
      [403, "permanent"],
      [404, "permanent"],
      [405, "permanent"],
      [410, "permanent"],
      [414, "permanent"],
      [422, "permanent"],
      [451, "permanent"],
      [302, "permanent"],
      [100, "permanent"],
    ];
    for (const [status, cls] of cases) expect([status, classifyStatus(status)]).toEqual([status, cls]);
  });
});

describe("classifyError", () => {
  it("keeps a FetchError's own verdict", () => {
    expect(classifyError(new FetchError("TOO_LARGE", "x", false))).toEqual({
      code: "TOO_LARGE",
      retryable: false,
    });
    expect(classifyError(new FetchError("TRUNCATED", "x", true))).toEqual({
      code: "TRUNCATED",
      retryable: true,
    });
  });

  it("reads Node and undici codes, also from the cause", () => {
    const withCode = (code: string) => Object.assign(new Error(code), { code });
    for (const code of [
      "ECONNRESET",
      "ECONNREFUSED",
      "ETIMEDOUT",
      "EPIPE",
      "ENOTFOUND",
      "EAI_AGAIN",
      "UND_ERR_SOCKET",
      "UND_ERR_HEADERS_TIMEOUT",
      "UND_ERR_BODY_TIMEOUT",
      "UND_ERR_CONNECT_TIMEOUT",
    ])
      expect(classifyError(withCode(code))).toEqual({ code, retryable: true });
    expect(classifyError(new Error("x", { cause: withCode("ECONNRESET") }))).toEqual({
      code: "ECONNRESET",
      retryable: true,
    });
    expect(classifyError(withCode("EACCES"))).toEqual({ code: "EACCES", retryable: false });
  });

  it("names aborts and unknowns", () => {
    const abort = new Error("aborted");
    abort.name = "AbortError";
    expect(classifyError(abort)).toEqual({ code: "ABORTED", retryable: true });
    expect(classifyError(new TypeError("bug"))).toEqual({ code: "UNKNOWN", retryable: false });
    expect(classifyError("a string")).toEqual({ code: "UNKNOWN", retryable: false });
    expect(classifyError(null)).toEqual({ code: "UNKNOWN", retryable: false });
  });
});
