import type { Completion, TaskRow } from "../ledger/ledger.js";
import { GROUP_FILES } from "../output/group-queue.js";
import type { Outcome } from "../sources/source.js";
import { diskError } from "./disk-error.js";
import type { RunState } from "./run-state.js";

/** Files written but not yet durable, past which a task waits for its own group sync. */
const MAX_WAITING_WRITES = GROUP_FILES;

/**
 * Record the outcome of one try of task `t` (answered from `url`, or computed when undefined): a
 * product is written to `path` and recorded "done" once durable; no coverage and permanent failures are
 * recorded at once; a retryable failure is recorded only when `final`, else "retry" tells the caller to
 * try again. A "follow" outcome must have been followed by the caller; a "stored" one comes with its
 * temp file (`stored`: a streamed product, checked and hashed), which is put in place the same way.
 */
export async function settle(
  run: RunState,
  t: TaskRow,
  band: string,
  path: string,
  outcome: Outcome,
  attempt: number,
  url: string | undefined,
  final: boolean,
  stored?: { readonly tmp: string; readonly bytes: number; readonly sha256: string },
): Promise<"settled" | "retry"> {
  const urlField = url === undefined ? {} : { url };
  switch (outcome.kind) {
    case "stored":
    case "done": {
      // The product becomes durable with its group (Store.put, Store.putFile for a streamed one); the
      // task's slot is free meanwhile, and "done" is recorded only once the store says it is durable.
      const tag = (): string => run.tagFor(t.seq, path);
      let writing: Promise<{ bytes: number; sha256: string }>;
      if (outcome.kind === "done") writing = run.store.put(path, outcome.body, tag);
      else if (stored !== undefined) writing = run.store.putFile(path, stored.tmp, stored, tag);
      else throw new Error(`internal: a "stored" outcome of task ${t.id} came without its file`);
      const durable = writing.then(
        (written) =>
          run.record(
            t,
            band,
            "done",
            attempt,
            { kind: "done", ...written, httpStatus: 200 },
            { ...urlField, path },
          ),
        (err: unknown) => run.failTask(t, diskError(err, path)),
      );
      run.grouped.add(durable);
      void durable.finally(() => run.grouped.delete(durable));
      // Bounded: past a full group of files waiting, a task waits for its own.
      if (run.store.waiting >= MAX_WAITING_WRITES) await durable;
      return "settled";
    }
    case "no_coverage":
      run.record(
        t,
        band,
        "no_coverage",
        attempt,
        { kind: "no_coverage", message: outcome.message },
        { ...urlField, message: outcome.message },
      );
      return "settled";
    case "follow":
      throw new Error(`internal: a "follow" outcome (${outcome.message}) reached settle()`);
    case "retryable":
      if (!final) return "retry";
      break;
    case "permanent":
      break;
  }
  const state = outcome.kind === "permanent" ? "failed_permanent" : "failed_retryable";
  const { code, message, status } = outcome;
  const c: Completion = {
    kind: state,
    code,
    message,
    ...(status === undefined ? {} : { httpStatus: status }),
  };
  run.record(t, band, state, attempt, c, {
    ...urlField,
    code,
    message,
    ...(status === undefined ? {} : { status }),
  });
  return "settled";
}
