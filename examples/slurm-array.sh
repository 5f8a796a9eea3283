#!/bin/bash
# vocut on a SLURM job array: N nodes share one catalog, each takes 1/N of it by id hash and asks the
# server at 1/N of --rate, so the array as a whole is exactly as polite as one process.
#
#   sbatch --array=0-7 examples/slurm-array.sh quasars.csv stamps
#
# Every array task keeps its own ledger (OUT/vocut.shard-I-of-N.db) and resumes where it stopped: submit
# the same array again after a pre-emption, a time-out or a server outage. The last task to finish with
# nothing left merges the shard ledgers into OUT/vocut.db for `vocut status`, `vocut export` and
# `vocut preview`; `vocut merge` may also be run by hand at any time.
#
#SBATCH --job-name=vocut
#SBATCH --array=0-7
#SBATCH --time=24:00:00
#SBATCH --cpus-per-task=1
#SBATCH --mem=1G
#SBATCH --output=vocut-%A_%a.log
#SBATCH --requeue
set -uo pipefail

CATALOG=${1:?usage: sbatch --array=0-N examples/slurm-array.sh CATALOG OUT [vocut run options]}
OUT=${2:?usage: sbatch --array=0-N examples/slurm-array.sh CATALOG OUT [vocut run options]}
shift 2
# Default source: the SDSS preset (hips2fits at CDS, u,g,r,i,z, 28x28 at 0.396"/px); pass your own flags
# after CATALOG and OUT to change it, e.g. --preset panstarrs or --url TEMPLATE --bands ...
if [ "$#" -eq 0 ]; then set -- --preset sdss; fi
# The vocut command (VOCUT="node /path/to/vocut/dist/cli/index.js" for a checkout without npm link).
read -ra VOCUT_CMD <<< "${VOCUT:-vocut}"
# Stop cleanly 10 minutes before the wall-clock limit (exit 5: work left), so no request is cut off.
LIMIT_S=${VOCUT_MAX_DURATION:-$(( 24 * 3600 - 600 ))}

"${VOCUT_CMD[@]}" run "$CATALOG" --out "$OUT" --shard auto --max-duration "$LIMIT_S" \
  ${VOCUT_CONTACT:+--contact "$VOCUT_CONTACT"} "$@"
code=$?

case "$code" in
  0|4)
    # 0: all done; 4: done but some products failed permanently (vocut status lists them).
    # The shard that finds every shard settled merges them (a second one doing the same is harmless).
    n=${SLURM_ARRAY_TASK_COUNT:?}
    shards=("$OUT"/vocut.shard-*-of-"$n".db)
    settled=1
    [ "${#shards[@]}" -eq "$n" ] || settled=0
    for s in "${shards[@]}"; do
      "${VOCUT_CMD[@]}" status "$s" >/dev/null 2>&1
      st=$?
      if [ "$st" -ne 0 ] && [ "$st" -ne 4 ]; then settled=0; fi
    done
    if [ "$settled" -eq 1 ]; then "${VOCUT_CMD[@]}" merge "${shards[@]}" || true; fi
    ;;
  5) echo "vocut: work left (server busy, time limit or signal): submit the same array again" >&2 ;;
  6) echo "vocut: this shard's ledger is in use by another process" >&2 ;;
esac
exit "$code"
