import type { RunStop } from "../run/run-stop.js";

/**
 * The process boundary of stopping: SIGINT and SIGTERM go to `halt` (which turns them into the steps of a
 * bounded stop) until the returned function removes the handlers.
 */
export function handleSignals(halt: RunStop): () => void {
  const onSignal = (sig: NodeJS.Signals): void => halt.signal(sig);
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return () => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  };
}
