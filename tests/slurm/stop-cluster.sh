#!/usr/bin/env bash
# Stop the cluster started by tests/slurm/start-cluster.sh under $GANBENCH_SLURM_BASE:
# cancel leftover jobs, then stop slurmd, slurmctld and munged, each by the PID recorded at
# start (SIGTERM, then SIGKILL after a grace period), and verify that each one is gone.
# Exit status: 0 when none of them is left running, 1 otherwise. Safe to call repeatedly.
set -uo pipefail

BASE=${GANBENCH_SLURM_BASE:-$PWD/.slurm-cluster}
GRACE=${GANBENCH_SLURM_STOP_GRACE:-15}   # seconds before SIGKILL
log() { printf '[stop-cluster] %s\n' "$*" >&2; }
[ -d "$BASE" ] || { log "no cluster directory $BASE"; exit 0; }
BASE=$(cd "$BASE" && pwd)
export PATH="$PATH:/usr/sbin:/sbin"

# Is $1 alive and still the daemon we started (guards against PID reuse)?
is_ours() {
  local pid=$1 name=$2 comm
  kill -0 "$pid" 2>/dev/null || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  [ "$comm" = "$name" ] || return 1
  # a zombie (not yet reaped by a container's PID 1) counts as stopped
  [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]
}

# Cancel jobs first, so that no slurmstepd outlives slurmd.
ctld_pid=$(cat "$BASE/run/slurmctld.pid" 2>/dev/null || true)
if [ -n "$ctld_pid" ] && is_ours "$ctld_pid" slurmctld && [ -f "$BASE/etc/slurm.conf" ]; then
  export SLURM_CONF="$BASE/etc/slurm.conf"
  job_ids=$(timeout 10 squeue -h -o %i 2>/dev/null || true)
  if [ -n "$job_ids" ]; then
    log "cancelling jobs: $(echo $job_ids)"
    timeout 10 scancel $job_ids 2>/dev/null || true
    for _ in $(seq 1 100); do
      [ -z "$(timeout 10 squeue -h -o %i 2>/dev/null || true)" ] && break
      sleep 0.2
    done
  fi
fi

rc=0
for name in slurmd slurmctld munged; do
  f="$BASE/run/$name.pid"
  [ -s "$f" ] || continue
  pid=$(cat "$f")
  if is_ours "$pid" "$name"; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 $(( GRACE * 10 ))); do is_ours "$pid" "$name" || break; sleep 0.1; done
    if is_ours "$pid" "$name"; then
      log "$name ($pid) ignored SIGTERM for ${GRACE}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null
      for _ in $(seq 1 50); do is_ours "$pid" "$name" || break; sleep 0.1; done
    fi
    if is_ours "$pid" "$name"; then
      log "$name ($pid) is STILL running"
      rc=1
      continue
    fi
    log "stopped $name ($pid)"
  fi
  rm -f "$f"
done
exit $rc
