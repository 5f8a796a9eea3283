#!/bin/bash
# vocut on a SLURM job array: N nodes share one catalog, each takes 1/N of it by id hash and asks the
# server at 1/N of --rate, so the array as a whole is exactly as polite as one process.
#
#   sbatch --array=0-7 examples/slurm-array.sh quasars.csv stamps
#
# Every array task keeps its own ledger (OUT/vocut.shard-I-of-N.db) and resumes where it stopped: submit
# the same array again after a pre-emption, a time-out or a server outage, or only the tasks that did not
# finish (`sbatch --array=1,3 ...`): the first submission recorded the number of shards in
# OUT/vocut.shards.json, and vocut refuses (exit 2) a split that disagrees with the ledgers in OUT.
# The last task to finish with nothing left merges the shard ledgers into OUT/vocut.db for `vocut status`,
# `vocut export` and `vocut preview`; `vocut merge` may also be run by hand at any time.
#
# Time limit: the script asks squeue for the time the job has left and stops vocut cleanly VOCUT_MARGIN_S
# seconds (default 600, at most a quarter of the time left) before it, with exit 5 (work left) instead of
# being killed (TIMEOUT). `sbatch --signal=B:TERM@600` works too: on SIGTERM (that signal, scancel, a
# pre-emption) the script passes it on to vocut, which finishes the requests in flight and stops; the
# script waits for it, so the exit code, the message below and the merge check always run.
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
# --shard auto (the split from SLURM's array variables, then from OUT/vocut.shards.json), or auto:N to
# state the number of shards (the array's task ids are then the shard indices 0..N-1).
SHARD=${VOCUT_SHARD:-auto}

# Seconds left before SLURM's limit, from squeue's %L ([D-]HH:MM:SS, MM:SS); empty when unknown
# (outside SLURM, no limit). SLURM 22.05 puts no time-limit variable in the job's environment.
time_left_s() {
  local job left d=0 h=0 m=0 s=0 IFS=:
  [ -n "${SLURM_JOB_ID:-}" ] || return 0
  # An array task by its array name: the last task's SLURM_JOB_ID is also the array's id, and
  # `squeue -j` on that lists every task of the array.
  job=$SLURM_JOB_ID
  [ -z "${SLURM_ARRAY_JOB_ID:-}" ] || job=${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}
  left=$(squeue -h -j "$job" -o %L 2>/dev/null | head -n 1) || return 0
  left=${left//[[:space:]]/}
  case "$left" in
    *-*) d=${left%%-*}; left=${left#*-} ;;
  esac
  [[ "$left" =~ ^[0-9:]+$ ]] || return 0 # UNLIMITED, NOT_SET, INVALID
  read -ra parts <<< "$left"
  case "${#parts[@]}" in
    3) h=${parts[0]}; m=${parts[1]}; s=${parts[2]} ;;
    2) m=${parts[0]}; s=${parts[1]} ;;
    1) s=${parts[0]} ;;
  esac
  echo $(( ((10#$d * 24 + 10#$h) * 60 + 10#$m) * 60 + 10#$s ))
}

# VOCUT_MAX_DURATION (seconds) wins; else the time left less the margin, so vocut has the margin to
# finish its requests in flight and write its ledger.
LIMIT_S=${VOCUT_MAX_DURATION:-}
if [ -z "$LIMIT_S" ]; then
  left=$(time_left_s)
  if [ -n "$left" ]; then
    margin=${VOCUT_MARGIN_S:-600}
    [[ "$margin" =~ ^[0-9]+$ ]] || { echo "vocut: VOCUT_MARGIN_S=$margin: a number of seconds" >&2; exit 2; }
    [ "$margin" -le $(( left / 4 )) ] || margin=$(( left / 4 ))
    LIMIT_S=$(( left - margin ))
    [ "$LIMIT_S" -ge 1 ] || LIMIT_S=1
    echo "vocut: ${left} s left in this job: stopping after ${LIMIT_S} s (margin ${margin} s)" >&2
  fi
fi

# vocut runs in the background and the shell waits for it: bash runs a trap only between commands, so
# with vocut in the foreground a SIGTERM would wait for vocut to end, and SLURM kills the shell first.
# The shell passes SIGTERM (sbatch --signal=B:TERM@N, scancel, pre-emption) on to vocut, which finishes
# the requests in flight and exits 5. A second SIGTERM within 2 s (scancel signals every process of the
# job, vocut included) counts once in vocut.
pid=
stopping=0
on_signal() {
  stopping=1
  echo "vocut: $1 received: stopping vocut cleanly" >&2
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null; fi
}
trap 'on_signal SIGTERM' TERM
trap 'on_signal SIGINT' INT

"${VOCUT_CMD[@]}" run "$CATALOG" --out "$OUT" --shard "$SHARD" ${LIMIT_S:+--max-duration "$LIMIT_S"} \
  ${VOCUT_CONTACT:+--contact "$VOCUT_CONTACT"} "$@" &
pid=$!
# A signal that came while vocut was starting.
if [ "$stopping" -eq 1 ]; then kill -TERM "$pid" 2>/dev/null; fi
while :; do
  wait "$pid"
  code=$?
  # wait returns 128+signal as soon as a trapped signal arrives: wait again while vocut still runs.
  kill -0 "$pid" 2>/dev/null || break
done
# vocut may have ended just after a signal interrupted wait: its own status is still waiting for us.
if [ "$code" -gt 128 ]; then
  wait "$pid" 2>/dev/null
  again=$?
  [ "$again" -eq 127 ] || code=$again
fi
trap - TERM INT
# A signal before vocut had started fetching (node starting, a large catalog being planned) ends it the
# default way; the ledger is intact and planning again is idempotent, so it is work left.
if [ "$stopping" -eq 1 ] && { [ "$code" -eq 143 ] || [ "$code" -eq 130 ]; }; then code=5; fi

case "$code" in
  0|4)
    # 0: all done; 4: done but some products failed permanently (vocut status lists them).
    # The shard that finds every shard settled merges them (a second one doing the same is harmless).
    # The number of shards comes from the ledgers' names, not SLURM_ARRAY_TASK_COUNT, which counts only
    # the tasks of this submission (2 under --array=1,3); vocut keeps every ledger in OUT of one split.
    shards=("$OUT"/vocut.shard-*-of-*.db)
    n=${shards[0]##*-of-}
    n=${n%.db}
    settled=1
    [[ "$n" =~ ^[0-9]+$ ]] && [ "${#shards[@]}" -eq "$n" ] || settled=0
    for s in "${shards[@]}"; do
      [ "$settled" -eq 1 ] || break
      "${VOCUT_CMD[@]}" status "$s" >/dev/null 2>&1
      st=$?
      if [ "$st" -ne 0 ] && [ "$st" -ne 4 ]; then settled=0; fi
    done
    if [ "$settled" -eq 1 ]; then "${VOCUT_CMD[@]}" merge "${shards[@]}" || true; fi
    ;;
  5) echo "vocut: work left (server busy, time limit or signal): submit the same array again" >&2 ;;
  6) echo "vocut: this shard's ledger is in use by another process" >&2 ;;
esac
echo "vocut: exit $code" >&2
exit "$code"
