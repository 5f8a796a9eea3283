import type { RunState } from "./run-state.js";

/**
 * What the run is waiting for, one line each (the watchdog's report): requests out per host, hosts
 * paused or broken, tasks waiting for a turn, a retry or a product, files in the store.
 */
export function waitingFor(run: RunState): string[] {
  const { store, waits } = run;
  const now = run.clock.now();
  const lines: string[] = [];
  const byHost = new Map<string, { n: number; since: number }>();
  for (const r of run.requestsOut) {
    const h = byHost.get(r.host);
    if (h === undefined) byHost.set(r.host, { n: 1, since: r.since });
    else {
      h.n++;
      h.since = Math.min(h.since, r.since);
    }
  }
  for (const [host, h] of byHost)
    lines.push(
      `${h.n} request(s) in flight to ${host}, the oldest for ${Math.round((now - h.since) / 1000)} s`,
    );
  for (const [host, st] of Object.entries(run.pacer.snapshot()))
    if (st.pausedUntil !== undefined || st.breaker !== "closed")
      lines.push(
        `${host} ${st.state}` +
          (st.pausedUntil === undefined ? "" : ` until ${new Date(st.pausedUntil).toISOString()}`) +
          ` (circuit breaker ${st.breaker}, ${st.consecutiveFailures} failure(s) in a row)`,
      );
  if (waits.turn > 0) lines.push(`${waits.turn} task(s) waiting for their host's turn (rate, connections)`);
  if (waits.backoff > 0) lines.push(`${waits.backoff} task(s) waiting to retry`);
  if (waits.producing > 0)
    lines.push(`${waits.producing} task(s) computing a product (shared downloads, reads)`);
  const syncing = run.grouped.size - store.waiting - store.writingTemp;
  if (store.writingTemp > 0) lines.push(`${store.writingTemp} temp file(s) being written`);
  if (store.waiting > 0) lines.push(`${store.waiting} file(s) waiting for their group sync`);
  if (syncing > 0) lines.push(`${syncing} file(s) in a group sync (fsync/syncfs) that has not returned`);
  if (run.buffer.length > 0) lines.push(`${run.buffer.length} claimed task(s) not started`);
  return lines.length > 0 ? lines : [`${run.inFlight.size} task(s) in progress`];
}
