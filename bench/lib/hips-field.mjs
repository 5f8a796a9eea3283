// Catalogs inside the bundled sample HiPS (fixtures/hips/sample-*), for bench/hips.mjs and bench/cost.mjs.
import { writeFileSync } from "node:fs";

/**
 * Write `n` targets at seeded random positions inside the sample field (400 x 0.8" around (150.1, 2.2),
 * kept 20" inside its edges) as an `id,ra,dec` CSV at `path`; returns `path`.
 */
export function writeFieldCatalog(path, n, seed) {
  const half = (400 * 0.8) / 2 / 3600 - 20 / 3600;
  let x = seed;
  const rnd = () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
  const lines = ["id,ra,dec"];
  for (let i = 0; i < n; i++)
    lines.push(
      `t${i},${(150.1 + (rnd() * 2 - 1) * half).toFixed(7)},${(2.2 + (rnd() * 2 - 1) * half).toFixed(7)}`,
    );
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}
