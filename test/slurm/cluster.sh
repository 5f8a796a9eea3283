#!/usr/bin/env bash
# A one-node SLURM cluster for tests, started as root without systemd: munged, slurmctld and slurmd with
# their state, sockets, logs and configuration under one folder, so nothing in /etc or /run is touched and
# a machine's own SLURM (if any) is left alone.
#
#   test/slurm/cluster.sh start DIR    # prints nothing; DIR/env holds `export SLURM_CONF=...`
#   test/slurm/cluster.sh stop DIR     # stops the daemons this script started (by their pid files)
#
# Proctrack is linuxproc (the process tree) and the task plugin none: containers rarely give the cgroup
# access that proctrack/cgroup needs, and the tests are about signals and exit codes, not confinement.
set -euo pipefail

cmd=${1:?usage: cluster.sh start|stop DIR}
DIR=${2:?usage: cluster.sh start|stop DIR}

free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

stop_pidfile() {
  local f=$1 pid
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

case "$cmd" in
  stop)
    stop_pidfile "$DIR/slurmd.pid"
    stop_pidfile "$DIR/slurmctld.pid"
    stop_pidfile "$DIR/munged.pid"
    exit 0
    ;;
  start) ;;
  *) echo "usage: cluster.sh start|stop DIR" >&2; exit 2 ;;
esac

mkdir -p "$DIR"/{state,spool,munge}
chmod 700 "$DIR/munge"
host=$(hostname -s)
dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$DIR/munge/munge.key"
munged --force --key-file="$DIR/munge/munge.key" --socket="$DIR/munge/munge.socket" \
  --pid-file="$DIR/munged.pid" --log-file="$DIR/munged.log" --seed-file="$DIR/munge/seed"

ctld_port=$(free_port)
slurmd_port=$(free_port)
cat >"$DIR/slurm.conf" <<CONF
ClusterName=vocuttest
SlurmctldHost=$host
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.log
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MinJobAge=600
KillWait=30
SlurmdParameters=config_overrides
NodeName=$host CPUs=8 RealMemory=8000 State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
echo "export SLURM_CONF=$DIR/slurm.conf" >"$DIR/env"
export SLURM_CONF=$DIR/slurm.conf
slurmctld -c -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 100); do
  state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
  [ "$state" = idle ] && exit 0
  sleep 0.2
done
echo "cluster.sh: node $host is not idle after 20 s (state: ${state:-unknown}); logs in $DIR" >&2
exit 1
