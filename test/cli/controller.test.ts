import { writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { encodeImage } from "../../src/fits/image.js";
import { runCli, tempDir } from "../helpers/cli.js";

/**
 * The CLI runs the latency-driven controller (the HostController the simulator drives): against a
 * server that queues instead of refusing, a window of 16 shrinks towards its workers, and --json says
 * so. Behaviour, not speed: the figures are the controller's own report.
 */
let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir("vocut-controller-");
});
afterEach(() => tmp.cleanup());

it("a queueing server (2 workers x 20 ms) told --concurrency 16: the window shrinks, the reason is queueing, --json reports it", async () => {
  const fits = encodeImage({ bitpix: -32, shape: [8, 8], data: new Float32Array(64).fill(1) });
  const free = [0, 0];
  let inFlight = 0;
  let maxLate = 0;
  const server = createServer((_req, res) => {
    // FIFO in front of 2 workers, 20 ms each: the answer waits for a free worker.
    const now = Date.now();
    const w = (free[0] as number) <= (free[1] as number) ? 0 : 1;
    const end = Math.max(now, free[w] as number) + 20;
    free[w] = end;
    inFlight++;
    setTimeout(() => {
      inFlight--;
      res.writeHead(200, { "content-type": "application/fits", "content-length": String(fits.length) });
      res.end(fits);
    }, end - now);
    maxLate = Math.max(maxLate, inFlight);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const port = (server.address() as AddressInfo).port;
    const lines = ["id,ra,dec"];
    for (let i = 0; i < 400; i++) lines.push(`o${i},${(10 + i * 1e-4).toFixed(6)},1`);
    const cat = join(tmp.dir, "cat.csv");
    writeFileSync(cat, `${lines.join("\n")}\n`);
    const r = await runCli([
      "run",
      cat,
      "--out",
      join(tmp.dir, "out"),
      "--url",
      `http://127.0.0.1:${port}/c/{id}.fits`,
      "--bands",
      "x",
      "--rate",
      "1000",
      "--concurrency",
      "16",
      "--json",
    ]);
    expect(r.code, r.stderr).toBe(0);
    const events = r.stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const summary = events.find((e) => e.type === "summary") as {
      done: number;
      hosts: Record<string, { window: number; minRttMs: number; reason?: string; rate: number }>;
    };
    expect(summary.done).toBe(400);
    const h = summary.hosts[`127.0.0.1:${port}`];
    // 16 allowed; the server takes 2 at a time: the window settles near 2-4 on a quiet machine, never
    // near the ceiling (a client on busy cores reads its own delays as latency: 9 was seen there).
    expect(h?.window).toBeLessThanOrEqual(12);
    expect(h?.window).toBeGreaterThanOrEqual(1);
    expect(h?.minRttMs).toBeGreaterThanOrEqual(15);
    expect(h?.reason).toBe("queueing");
    expect(h?.rate).toBe(1000); // no throttle: the rate stays at its ceiling, the window does the work
    expect(maxLate).toBeLessThanOrEqual(16);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
}, 60_000);
