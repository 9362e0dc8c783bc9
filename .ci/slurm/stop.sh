#!/usr/bin/env bash
# Stop the cluster that start.sh started: cancel its jobs, then stop slurmd, slurmctld, slurmdbd, mariadbd and
# munged, each by the pid start.sh recorded (never by name), and remove the slurm.conf start.sh wrote.
# Without that file SLURM's client commands fail at once instead of waiting ~10 s for a controller that is
# gone (snakemake-executor-plugin-slurm runs `scontrol show config` whenever snakemake starts).
# The accounting database and the packages stay, so the next start is quick. Run as root.
set -uo pipefail

STATE=${LIGER_IRIS_SLURM_STATE:-/tmp/liger-iris-slurm}
PIDS=$STATE/pids

say() { echo "[slurm stop $(date +%T)] $*"; }

# The recorded pid of daemon $1, if it still runs as $1.
running_pid() {
	local pid
	pid=$(awk -v name="$1" '$1 == name {print $2}' "$PIDS" 2>/dev/null | tail -n 1)
	[ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] && echo "$pid"
}

stop_daemon() {
	local name=$1 pid pidfile
	pid=$(running_pid "$name") || return 0
	say "stopping $name (pid $pid)"
	kill -TERM "$pid"
	for _ in $(seq 200); do
		[ -d "/proc/$pid" ] || break
		sleep 0.1
	done
	if [ -d "/proc/$pid" ]; then
		say "$name still running after 20 s: KILL"
		kill -KILL "$pid"
	fi
	# A stale pid file makes the Debian package scripts talk to a dead daemon.
	pidfile=$(awk -v name="$name" '$1 == name {print $3}' "$PIDS" | tail -n 1)
	rm -f "$pidfile"
}

if running_pid slurmctld >/dev/null; then
	jobs=$(squeue -h -o %i 2>/dev/null | tr '\n' ' ')
	if [ -n "${jobs// /}" ]; then
		say "cancelling jobs $jobs"
		# shellcheck disable=SC2086 # one argument per job id
		scancel $jobs
		for _ in $(seq 50); do
			[ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
			sleep 0.2
		done
	fi
fi
for daemon in slurmd slurmctld slurmdbd mariadbd munged; do
	stop_daemon "$daemon"
done
if grep -qs "Written by .ci/slurm/start.sh" /etc/slurm/slurm.conf; then
	rm -f /etc/slurm/slurm.conf /etc/slurm/slurmdbd.conf
fi
rm -f "$PIDS"
say "stopped"
