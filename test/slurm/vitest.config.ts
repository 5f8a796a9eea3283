import { defineConfig } from "vitest/config";

// `npm run test:slurm` only (test/slurm/run.sh starts the cluster first): the jobs of one cluster run
// in one file, one test after another, against one node.
export default defineConfig({
  test: {
    include: ["test/slurm/*.slurm.ts"],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
