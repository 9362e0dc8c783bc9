#!/usr/bin/env bash
# Start a single-node SLURM cluster on 127.0.0.1 from Debian's packages, for running the workflow through
# `snakemake --profile profiles/slurm` on this machine (tests/test_slurm.py, or by hand). Run as root.
#
#   munged -> mariadbd (unix socket only) -> slurmdbd (so sacct works) -> slurmctld -> slurmd
#
# Missing packages are installed with apt-get. No systemd is needed: each daemon is started directly and its
# pid is written to $STATE/pids, which stop.sh reads to stop exactly these processes. Running it again while
# the cluster is up changes nothing. The cluster has one partition, `drs`, and one account, `liger_iris`
# (the names profiles/slurm/config.yaml uses), with the calling user in it.
#
# Settings (environment):
#   LIGER_IRIS_SLURM_STATE  pid list and daemon logs        (default /tmp/liger-iris-slurm)
#   LIGER_IRIS_SLURM_CPUS   CPUs the node offers (default 4): more than the cores lets short I/O-bound jobs
#                           overlap; SlurmdParameters=config_overrides accepts the difference
#   LIGER_IRIS_SLURM_MEM_PER_CPU  DefMemPerCPU in MB (default 1000), for jobs that ask for no memory;
#                           without it a job gets the whole node and jobs run one at a time
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
	echo "start.sh: run as root (it installs packages and starts system daemons)" >&2
	exit 1
fi

STATE=${LIGER_IRIS_SLURM_STATE:-/tmp/liger-iris-slurm}
CPUS=${LIGER_IRIS_SLURM_CPUS:-4}
MEM_PER_CPU=${LIGER_IRIS_SLURM_MEM_PER_CPU:-1000}
PARTITION=drs
ACCOUNT=liger_iris
DB_PASSWORD=liger-iris-slurm # mariadbd listens on its unix socket only
PIDS=$STATE/pids
mkdir -p "$STATE"
touch "$PIDS"

say() { echo "[slurm start $(date +%T)] $*"; }

# Wait up to $1 seconds for a command to succeed.
wait_until() {
	local seconds=$1 what=$2
	shift 2
	local deadline=$((SECONDS + seconds))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			echo "start.sh: $what did not come up within ${seconds}s (logs: $STATE, /var/log/slurm)" >&2
			exit 1
		fi
		sleep 0.2
	done
}

# True if the pid in file $1 is a live process named $2.
alive() {
	local pid
	pid=$(tr -dc "0-9" 2>/dev/null <"$1") || return 1
	[ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]
}

# Record daemon $1 (pid file $2) in the pid list, replacing an earlier entry.
remember() {
	local pid
	pid=$(tr -dc '0-9' <"$2")
	{
		grep -v "^$1 " "$PIDS" || true
		echo "$1 $pid $2"
	} >"$PIDS.new"
	mv "$PIDS.new" "$PIDS"
	say "$1 running (pid $pid)"
}

# Start daemon $1 with the rest of the arguments unless its pid file $2 names a live $1.
start_daemon() {
	local name=$1 pidfile=$2
	shift 2
	if ! alive "$pidfile" "$name"; then
		say "starting $name"
		"$@" </dev/null >>"$STATE/$name.out" 2>&1
	fi
}

packages=(munge slurm-client slurmctld slurmd slurmdbd mariadb-server)
missing=()
for package in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
	say "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$STATE/apt.log"
fi

# Never overwrite a cluster configuration this script did not write.
for conf in /etc/slurm/slurm.conf /etc/slurm/slurmdbd.conf; do
	if [ -e "$conf" ] && ! grep -qs "Written by .ci/slurm/start.sh" "$conf"; then
		echo "start.sh: $conf exists and was not written by this script: not touching this machine's SLURM" >&2
		exit 1
	fi
done

HOST=$(hostname -s)
getent hosts "$HOST" >/dev/null || echo "127.0.0.1 $HOST" >>/etc/hosts
# slurmd drains a node that reports less memory than configured: offer a little less than it has.
MEMORY=$(($(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p') - 256))

mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge /run/mysqld
chown slurm:slurm /var/spool/slurmctld /var/log/slurm
chown munge:munge /run/munge
chown mysql:mysql /run/mysqld

# proctrack/linuxproc and task/none need neither systemd nor cgroups; CR_Core_Memory packs jobs by the
# cores and memory they ask for.
cat >"$STATE/slurm.conf" <<EOF
# Written by .ci/slurm/start.sh; stop.sh removes it.
ClusterName=liger_iris
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$MEM_PER_CPU
SlurmdParameters=config_overrides
MinJobAge=300
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageEnforce=associations
JobAcctGatherType=jobacct_gather/linux
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEMORY State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
restart=0
if ! cmp -s "$STATE/slurm.conf" /etc/slurm/slurm.conf; then
	install -m 644 "$STATE/slurm.conf" /etc/slurm/slurm.conf
	restart=1
fi
cat >"$STATE/slurmdbd.conf" <<EOF
# Written by .ci/slurm/start.sh; stop.sh removes it.
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=slurm
LogFile=/var/log/slurm/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASSWORD
StorageLoc=slurm_acct_db
EOF
install -m 600 -o slurm -g slurm "$STATE/slurmdbd.conf" /etc/slurm/slurmdbd.conf

[ -s /etc/munge/munge.key ] || mungekey --create --keyfile /etc/munge/munge.key
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
start_daemon munged /run/munge/munged.pid runuser -u munge -- /usr/sbin/munged
wait_until 20 munged bash -c "munge -n | unmunge"
remember munged /run/munge/munged.pid

[ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >>"$STATE/mariadbd.out"
if ! alive /run/mysqld/mysqld.pid mariadbd; then
	say "starting mariadbd"
	setsid /usr/sbin/mariadbd --user=mysql --skip-networking --innodb-buffer-pool-size=64M \
		--pid-file=/run/mysqld/mysqld.pid </dev/null >>"$STATE/mariadbd.out" 2>&1 &
fi
wait_until 60 mariadbd mariadb-admin ping
wait_until 10 "the mariadbd pid file" test -s /run/mysqld/mysqld.pid
remember mariadbd /run/mysqld/mysqld.pid
mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
	CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
	GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"

start_daemon slurmdbd /run/slurmdbd.pid /usr/sbin/slurmdbd
wait_until 30 slurmdbd sacctmgr -n list cluster
remember slurmdbd /run/slurmdbd.pid

# The cluster, the account and its users must exist in the database before slurmctld enforces them.
sacctmgr -i -Q add cluster liger_iris >/dev/null 2>&1 || true
sacctmgr -i -Q add account "$ACCOUNT" cluster=liger_iris description="Liger/IRIS DRS" >/dev/null 2>&1 || true
for user in root ${SUDO_USER:-}; do
	sacctmgr -i -Q add user "$user" account="$ACCOUNT" cluster=liger_iris >/dev/null 2>&1 || true
done
if [ -z "$(sacctmgr -n -P list association account="$ACCOUNT" user=root format=user)" ]; then
	echo "start.sh: could not put root into the SLURM account $ACCOUNT (log: /var/log/slurm/slurmdbd.log)" >&2
	exit 1
fi

if ((restart)); then
	for daemon in slurmd slurmctld; do
		if alive "/run/$daemon.pid" "$daemon"; then
			say "slurm.conf changed: stopping $daemon"
			pid=$(cat "/run/$daemon.pid")
			kill "$pid"
			for _ in $(seq 100); do
				[ -d "/proc/$pid" ] || break
				sleep 0.1
			done
		fi
	done
fi
start_daemon slurmctld /run/slurmctld.pid /usr/sbin/slurmctld
wait_until 30 slurmctld bash -c "scontrol ping | grep -q UP"
remember slurmctld /run/slurmctld.pid
start_daemon slurmd /run/slurmd.pid /usr/sbin/slurmd -N "$HOST"
wait_until 10 "the slurmd pid file" test -s /run/slurmd.pid
remember slurmd /run/slurmd.pid

# A node left down or drained by an earlier run is resumed.
for _ in $(seq 150); do
	state=$(sinfo -h -n "$HOST" -o %T 2>/dev/null | head -n 1)
	case $state in
	idle* | mixed* | allocated* | completing*) break ;;
	down* | drain* | fail*) scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true ;;
	esac
	sleep 0.2
done
case $state in
idle* | mixed* | allocated* | completing*) ;;
*)
	echo "start.sh: node $HOST is '$state', not ready (logs: /var/log/slurm)" >&2
	exit 1
	;;
esac
wait_until 30 "sacct" sacct -n -X
say "up: partition $PARTITION, account $ACCOUNT, node $HOST with $CPUS CPUs and $MEMORY MB"
