#!/usr/bin/env bash
# npm run test:slurm: examples/slurm-array.sh on a real one-node SLURM cluster (Debian's slurm-wlm and
# munge, installed here if missing; needs root, as slurmd does). Starts munged, slurmctld and slurmd
# under a temp folder (test/slurm/cluster.sh), runs test/slurm/*.slurm.ts with vitest (arguments are
# passed on, e.g. --reporter=json --outputFile=F), and stops the daemons on any exit.
set -uo pipefail
cd "$(dirname "$0")/../.."

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test:slurm: slurm-wlm and munge are not installed, and installing them needs root" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y slurm-wlm munge ||
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y slurm-wlm munge; } ||
    { echo "test:slurm: cannot install slurm-wlm and munge" >&2; exit 1; }
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "test:slurm: slurmd must run as root (it starts jobs as their users)" >&2
  exit 1
fi

DIR=$(mktemp -d "${TMPDIR:-/tmp}/vocut-slurm-XXXXXX")
trap 'test/slurm/cluster.sh stop "$DIR"; rm -rf "$DIR"' EXIT
if ! test/slurm/cluster.sh start "$DIR"; then
  for f in "$DIR"/*.log; do echo "== $f"; tail -n 20 "$f"; done >&2
  exit 1
fi
export SLURM_CONF="$DIR/slurm.conf" VOCUT_SLURM_JOBCOMP="$DIR/jobcomp.log"
npx vitest run --config test/slurm/vitest.config.ts "$@"
code=$?
if [ "$code" -ne 0 ]; then
  echo "== the end of slurmctld's and slurmd's logs" >&2
  tail -n 15 "$DIR/slurmctld.log" "$DIR/slurmd.log" >&2
fi
exit "$code"
