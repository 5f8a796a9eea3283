import { afterEach, beforeEach } from "vitest";
import { tempDir } from "./cli.js";
import { type ArchiveServer, startArchive } from "./tap-server.js";

/**
 * For each test of the calling file (or describe block): a fresh temp folder `dir`, and `start()` for the
 * archives (tap-server.ts) the test needs; after the test they are closed and the folder is removed.
 */
export function archiveRig(): { readonly dir: string; start: typeof startArchive } {
  let tmp: ReturnType<typeof tempDir> | undefined;
  const started: ArchiveServer[] = [];
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(async () => {
    for (const a of started.splice(0)) await a.close();
    tmp?.cleanup();
    tmp = undefined;
  });
  return {
    get dir(): string {
      if (tmp === undefined) throw new Error("archiveRig: the folder exists only while a test runs");
      return tmp.dir;
    },
    async start(opts) {
      const a = await startArchive(opts);
      started.push(a);
      return a;
    },
  };
}
