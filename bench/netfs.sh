#!/usr/bin/env bash
# A network-file-system stand-in for `bench/cost.mjs --out-root`: an sshfs mount over loopback TCP to
# OpenSSH's sftp-server (no sshd, no keys). Every open, create, rename and fsync becomes a request and an
# answer over a socket, as on NFS, Lustre or GPFS, where each create is a round trip to a server: about
# 1 ms per small-file create here, against tens of microseconds on the local disk. A bindfs mount (FUSE
# in-process) does not show this: its creates stay cheap.
#
# Needs: apt-get install sshfs openssh-sftp-server socat, and the right to mount FUSE (root here).
# Usage:
#   bench/netfs.sh up MOUNTPOINT [BACKING_DIR]   # BACKING_DIR defaults to MOUNTPOINT.backing
#   bench/netfs.sh down MOUNTPOINT
# NETFS_PORT (default 7777) is the loopback port sftp-server listens on.
set -euo pipefail

cmd=${1:-}
mnt=${2:-}
if [[ -z "$cmd" || -z "$mnt" ]]; then
  echo "usage: bench/netfs.sh up MOUNTPOINT [BACKING_DIR] | down MOUNTPOINT" >&2
  exit 2
fi
port=${NETFS_PORT:-7777}
pidfile="${TMPDIR:-/tmp}/vocut-netfs-$(echo "$mnt" | tr '/' '_').pid"

case "$cmd" in
  up)
    backing=${3:-$mnt.backing}
    sftp=/usr/lib/openssh/sftp-server
    for need in sshfs socat; do
      command -v "$need" >/dev/null || { echo "netfs: $need is not installed" >&2; exit 2; }
    done
    [[ -x "$sftp" ]] || { echo "netfs: $sftp is not installed (openssh-sftp-server)" >&2; exit 2; }
    mkdir -p "$mnt" "$backing"
    # nodelay: without it, Nagle's algorithm and delayed ACKs make each round trip ~40 ms.
    socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,nodelay" "EXEC:$sftp" &
    echo $! >"$pidfile"
    for _ in $(seq 50); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
      sleep 0.1
    done
    sshfs -o "directport=$port" "127.0.0.1:$(realpath "$backing")" "$mnt"
    echo "netfs: $mnt is $backing through sftp-server on 127.0.0.1:$port"
    ;;
  down)
    fusermount -u "$mnt" 2>/dev/null || umount "$mnt" 2>/dev/null || true
    if [[ -f "$pidfile" ]]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
    fi
    echo "netfs: $mnt unmounted"
    ;;
  *)
    echo "netfs: unknown command $cmd (up or down)" >&2
    exit 2
    ;;
esac
