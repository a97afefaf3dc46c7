#!/usr/bin/env bash
# A one-node SLURM cluster on 127.0.0.1, for the cluster tests and for trying the README's SLURM commands:
# munge, MariaDB + slurmdbd (so that `sacct` works: submitit reads job states from it, and without it a
# cancelled job looks UNKNOWN forever and the launcher waits forever), slurmctld and slurmd.
# No systemd and no cgroups (proctrack/linuxproc, task/none), so it runs in a container. Root only.
# Idempotent: installs what is missing (apt-get), starts what is not running, then waits until `sinfo`
# shows the node idle. Stop everything with .ci/cluster/slurm-down.sh.
#   .ci/cluster/slurm-up.sh            # then: sinfo; python -m designspace.train -m ... hydra/launcher=submitit_slurm
set -euo pipefail

STATE=${DS_SLURM_STATE:-/var/lib/designspace-slurm}
CONF_DIR=/etc/slurm
MARK="# written by designspace .ci/cluster/slurm-up.sh"
CLUSTER=designspace
PARTITION=${DS_SLURM_PARTITION:-debug}
t0=$(date +%s)

die() { echo "slurm-up: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (it installs packages and starts munged, slurmdbd, slurmctld and slurmd)"

# ---- packages
missing=()
for pair in slurmctld:slurmctld slurmd:slurmd slurmdbd:slurmdbd sinfo:slurm-client munged:munge \
            mariadbd:mariadb-server; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin command -v "${pair%%:*}" >/dev/null 2>&1 \
    || missing+=("${pair#*:}")
done
export PATH=$PATH:/usr/sbin:/sbin
if [ ${#missing[@]} -gt 0 ]; then
  echo "slurm-up: installing ${missing[*]} (apt-get)"
  command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand (Debian/Ubuntu packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed (is a Debian mirror reachable?)"
  apt-get install -y -qq slurm-wlm slurmdbd slurm-client munge mariadb-server >/dev/null \
    || die "apt-get install slurm-wlm slurmdbd slurm-client munge mariadb-server failed"
fi

mkdir -p "$STATE"/{log,run,ctld,d} "$CONF_DIR"
host=$(hostname -s)

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
wait_for() {  # wait_for SECONDS WHAT COMMAND...
  local limit=$1 what=$2; shift 2
  for _ in $(seq "$((limit * 5))"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  die "$what did not come up within ${limit}s (logs: $STATE/log/)"
}

# ---- munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  [ -s /etc/munge/munge.key ] || { mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null \
    || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; }
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge && chown munge:munge /run/munge /var/log/munge /var/lib/munge
  runuser -u munge -- munged --pid-file=/run/munge/munged.pid
  cp /run/munge/munged.pid "$STATE/run/munged.pid" 2>/dev/null || true
  wait_for 20 munged sh -c 'munge -n | unmunge'
fi

# ---- MariaDB (the accounting database; root connects over the unix socket, no password)
if ! mysqladmin ping >/dev/null 2>&1; then
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql >/dev/null
  (setsid mariadbd-safe --user=mysql --skip-networking >"$STATE/log/mariadb.log" 2>&1 &)
  touch "$STATE/run/mariadb.started-by-us"
  wait_for 180 MariaDB mysqladmin ping
fi

# ---- configs
if [ -e "$CONF_DIR/slurm.conf" ] && ! grep -qF "$MARK" "$CONF_DIR/slurm.conf"; then
  die "$CONF_DIR/slurm.conf exists and was not written by this script: not touching a real cluster's config"
fi
node=$(slurmd -C | head -n1)   # NodeName=HOST CPUs=.. Boards=.. SocketsPerBoard=.. CoresPerSocket=.. ThreadsPerCore=.. RealMemory=..
cat >"$CONF_DIR/slurmdbd.conf" <<EOF
$MARK
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
LogFile=$STATE/log/slurmdbd.log
PidFile=$STATE/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=root
StorageLoc=slurm_acct_db
EOF
chmod 600 "$CONF_DIR/slurmdbd.conf"
cat >"$CONF_DIR/slurm.conf" <<EOF
$MARK
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
KillWait=5
MinJobAge=600
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

# ---- daemons
if ! alive "$STATE/run/slurmdbd.pid"; then
  slurmdbd
  wait_for 180 slurmdbd sacctmgr -n list cluster
fi
sacctmgr -i -Q add cluster "$CLUSTER" >/dev/null 2>&1 || true
alive "$STATE/run/slurmctld.pid" || slurmctld
wait_for 180 slurmctld scontrol ping
alive "$STATE/run/slurmd.pid" || slurmd
for _ in $(seq 300); do
  state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
  case "$state" in
    idle|mixed|allocated) break ;;
    drain*|down*) scontrol update nodename="$host" state=resume 2>/dev/null || true ;;
  esac
  sleep 0.2
done
case "$state" in
  idle|mixed|allocated) ;;
  *) die "node $host is '${state:-missing}' after 60s (sinfo -R; logs: $STATE/log/)" ;;
esac
wait_for 30 "sacct" sacct -n -X -S now
echo "slurm-up: cluster $CLUSTER up in $(( $(date +%s) - t0 ))s: node $host ($state), partition $PARTITION," \
     "$(slurmctld -V)"
