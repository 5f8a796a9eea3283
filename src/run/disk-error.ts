import { ExitCode, VocutError } from "../errors.js";

/** Local write failures that no retry of a server request can fix. */
export const WRITE_ERRORS: ReadonlySet<string> = new Set(["ENOSPC", "EDQUOT", "EROFS"]);

/** A failed local write at `path` as the run-level error that stops the run (exit 5, run again). */
export function diskError(err: unknown, path: string): VocutError {
  const code = (err as NodeJS.ErrnoException).code ?? "EIO";
  const hint =
    code === "ENOSPC" || code === "EDQUOT"
      ? "the disk is full: free space and run the same command again"
      : "check the output folder and run again";
  return new VocutError(
    "WRITE_FAILED",
    `cannot write ${path} (${code}): ${hint}; the ledger is intact`,
    ExitCode.RetryLater,
    {
      cause: err,
    },
  );
}
