#!/usr/bin/env node
// The controller in simulated time (issue 10, part 6): every server model of src/fetch/sim/scenarios.ts
// against the HostController the CLI runs, printed as the README's table. Deterministic (seeded).
// Build first (npm run build). Usage: node bench/controller-sim.mjs [--scale 1] [--only 0,3]
import { parseArgs } from "node:util";
import { scenarios } from "../dist/fetch/sim/scenarios.js";
import { recoverySeconds, simulate } from "../dist/fetch/sim/simulate.js";

const { values } = parseArgs({
  options: { scale: { type: "string", default: "1" }, only: { type: "string" } },
});
const only = values.only?.split(",").map(Number);
const pct = (x) => `${(x * 100).toFixed(1)}%`;
const dur = (ms) =>
  ms >= 86_400_000
    ? `${(ms / 86_400_000).toFixed(1)} d`
    : ms >= 3_600_000
      ? `${(ms / 3_600_000).toFixed(1)} h`
      : `${(ms / 1000).toFixed(0)} s`;
const rows = [];
for (const [i, sc] of scenarios(Number(values.scale)).entries()) {
  if (only !== undefined && !only.includes(i)) continue;
  const server = sc.server();
  const c0 = process.cpuUsage();
  const r = simulate(server, sc.client);
  const cu = process.cpuUsage(c0);
  const cpuS = (cu.user + cu.system) / 1e6;
  const svc = server.serviceMs;
  const queue =
    svc === undefined
      ? "-"
      : `${r.queueP50Ms} / ${r.queueP90Ms} ms (${(r.queueP50Ms / svc).toFixed(2)} / ${(r.queueP90Ms / svc).toFixed(2)})`;
  const rec = sc.recoverFromMs === undefined ? "-" : `${recoverySeconds(r, sc.recoverFromMs)} s`;
  const extra = Number.isFinite(sc.client.tasks)
    ? `${r.tasksDone.toLocaleString("en")} tasks in ${dur(r.elapsedMs)}; Retry-After pauses ${dur(r.retryAfterPauseMs)}`
    : "";
  rows.push([
    sc.name,
    sc.told,
    dur(r.elapsedMs),
    r.requests.toLocaleString("en"),
    pct(r.capacityUsed),
    pct(r.worst10s),
    queue,
    pct(r.throttledFraction),
    rec,
    extra,
    `${cpuS.toFixed(1)} s`,
  ]);
}
const head = [
  "server model",
  "vocut told",
  "simulated",
  "requests",
  "capacity used",
  "worst 10 s",
  "server queue p50 / p90 (service times)",
  "429/503",
  "recovery",
  "notes",
  "sim CPU",
];
console.log(`| ${head.join(" | ")} |`);
console.log(`| ${head.map(() => "---").join(" | ")} |`);
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
