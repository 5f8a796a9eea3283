import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { type Card, FitsHeader } from "../../src/fits/header.js";

/** A fixture file from fixtures/wcs (written by make_fixtures.py), parsed as JSON or read as bytes. */
export function fixtureJson<T>(name: string): T {
  return JSON.parse(readFileSync(fixturePath(name), "utf8")) as T;
}

export function fixturePath(name: string): string {
  return resolve(import.meta.dirname, "../../fixtures/wcs", name);
}

/** A header from the fixtures' [key, value] pairs. */
export function headerOf(cards: ReadonlyArray<readonly [string, string | number]>): FitsHeader {
  return new FitsHeader(cards.map(([key, value]): Card => ({ key, value })));
}

/** Angular distance in degrees (Vincenty: accurate for tiny separations). */
export function sepDeg(a1: number, d1: number, a2: number, d2: number): number {
  const r = Math.PI / 180;
  const dl = (a2 - a1) * r;
  const [s1, c1, s2, c2] = [Math.sin(d1 * r), Math.cos(d1 * r), Math.sin(d2 * r), Math.cos(d2 * r)];
  const num = Math.hypot(c2 * Math.sin(dl), c1 * s2 - s1 * c2 * Math.cos(dl));
  const den = s1 * s2 + c1 * c2 * Math.cos(dl);
  return Math.atan2(num, den) / r;
}
