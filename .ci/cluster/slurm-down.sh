#!/usr/bin/env bash
# Stop the one-node SLURM cluster of .ci/cluster/slurm-up.sh: cancel its jobs, then stop slurmd, slurmctld,
# slurmdbd, the MariaDB it started and munged, each by its pid file. Safe to run when nothing is up.
set -uo pipefail

STATE=${DS_SLURM_STATE:-/var/lib/designspace-slurm}
export PATH=$PATH:/usr/sbin:/sbin
[ "$(id -u)" = 0 ] || { echo "slurm-down: needs root" >&2; exit 1; }

stop() {  # stop NAME PIDFILE
  local pidfile=$2 pid
  [ -s "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    echo "slurm-down: stopped $1 (pid $pid)"
  fi
  rm -f "$pidfile"
}

if [ -s "$STATE/run/slurmctld.pid" ] && command -v scancel >/dev/null; then
  timeout 20 scancel --full --quiet --user=root 2>/dev/null || true
  for _ in $(seq 50); do [ -z "$(timeout 5 squeue -h 2>/dev/null)" ] && break; sleep 0.2; done
fi
stop slurmd "$STATE/run/slurmd.pid"
stop slurmctld "$STATE/run/slurmctld.pid"
stop slurmdbd "$STATE/run/slurmdbd.pid"
if [ -e "$STATE/run/mariadb.started-by-us" ]; then
  mysqladmin shutdown 2>/dev/null && echo "slurm-down: stopped MariaDB"
  rm -f "$STATE/run/mariadb.started-by-us"
fi
stop munged "$STATE/run/munged.pid"
exit 0
