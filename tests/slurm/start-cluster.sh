#!/usr/bin/env bash
# Start a throw-away, single-node SLURM cluster on loopback for ganbench's integration test.
#
#   GANBENCH_SLURM_BASE=/some/dir tests/slurm/start-cluster.sh
#   . /some/dir/env.sh          # exports SLURM_CONF and puts the srun shim first on PATH
#   ...                         # sbatch / squeue / snakemake --profile workflow/profiles/slurm ...
#   GANBENCH_SLURM_BASE=/some/dir tests/slurm/stop-cluster.sh
#
# Everything (slurm.conf, gres.conf, munge key + socket, spool, logs, PID files) lives under
# $GANBENCH_SLURM_BASE (default: ./.slurm-cluster); nothing in /etc or /run is written.
# Daemons: munged, slurmctld, slurmd, each started in the foreground-mode (-F / -D) in the
# background, so that "$!" is the daemon itself; the PIDs go to $BASE/run/<name>.pid and
# stop-cluster.sh stops exactly these PIDs.
#
# The single node declares fake GPUs (gres.conf: Name=gpu File=/dev/null, then /dev/zero, ...),
# so that jobs asking for `--gpus=1` (Snakemake resource `gpu=1`) are scheduled like on a GPU
# cluster: at most that many GPU jobs run at once, each gets CUDA_VISIBLE_DEVICES=<index>.
# There is no slurmdbd: `sacct` does not work, Snakemake's SLURM executor must use
# `slurm-status-command: squeue` (MinJobAge below is large enough for that).
#
# Needs root (slurmd launches the jobs). Missing Debian/Ubuntu packages are installed with apt-get
# (set GANBENCH_SLURM_INSTALL=never to forbid that):
#   slurmctld slurmd slurm-client munge
# Optional environment:
#   GANBENCH_SLURM_BASE           base directory (created if missing)
#   GANBENCH_SLURMCTLD_PORT       slurmctld port (default: first free port from 6817 on)
#   GANBENCH_SLURMD_PORT          slurmd port    (default: first free port after that)
#   GANBENCH_SLURM_READY_TIMEOUT  seconds to wait for the node to become idle (default 60)
#   GANBENCH_SLURM_GPUS           number of fake GPUs on the node, 1-4 (default 4)
set -euo pipefail

BASE=${GANBENCH_SLURM_BASE:-$PWD/.slurm-cluster}
INSTALL=${GANBENCH_SLURM_INSTALL:-auto}
READY_TIMEOUT=${GANBENCH_SLURM_READY_TIMEOUT:-60}
GPUS=${GANBENCH_SLURM_GPUS:-4}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { printf '[start-cluster] %s\n' "$*" >&2; }
die() { printf '[start-cluster] ERROR: %s\n' "$*" >&2; exit 1; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
T0=$(now_ms)

# ---------------------------------------------------------------------------------------------
# 0. root + packages
# ---------------------------------------------------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
  die "must run as root (slurmd launches the jobs; packages may need apt-get). \
Developers without root can skip the SLURM test with GANBENCH_SKIP_SLURM=1."
fi

REQUIRED_CMDS="munged munge unmunge slurmctld slurmd sbatch srun squeue sinfo scontrol scancel"
missing_cmds() {
  local c out=""
  for c in $REQUIRED_CMDS; do
    # the daemons live in /usr/sbin, which is not always on a CI user's PATH
    command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] || out="$out $c"
  done
  echo "$out"
}

MISSING=$(missing_cmds)
if [ -n "$MISSING" ]; then
  [ "$INSTALL" = never ] && die "missing commands:$MISSING (and GANBENCH_SLURM_INSTALL=never)"
  command -v apt-get >/dev/null 2>&1 || die "missing commands:$MISSING and no apt-get to install \
slurmctld slurmd slurm-client munge"
  log "installing slurmctld slurmd slurm-client munge (missing:$MISSING)"
  # Keep the packages' maintainer scripts from starting the *system* munge/slurm services
  # (they would use /etc and /run, which this harness never touches). Only done if no
  # policy-rc.d exists already; removed again right after the installation.
  POLICY=/usr/sbin/policy-rc.d
  made_policy=
  if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$POLICY" && chmod 755 "$POLICY" && made_policy=1
  fi
  set +e
  (
    set -e
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge
  ) >&2
  rc=$?
  set -e
  [ -n "$made_policy" ] && rm -f "$POLICY"
  [ "$rc" -eq 0 ] || die "apt-get install failed (rc=$rc)"
  MISSING=$(missing_cmds)
  [ -z "$MISSING" ] || die "still missing after apt-get:$MISSING"
fi
export PATH="$PATH:/usr/sbin:/sbin"

# ---------------------------------------------------------------------------------------------
# 1. fresh directory layout (refuse to clobber a cluster that is still running)
# ---------------------------------------------------------------------------------------------
mkdir -p "$BASE"
BASE=$(cd "$BASE" && pwd)
for name in slurmd slurmctld munged; do
  f="$BASE/run/$name.pid"
  if [ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; then
    die "$name (PID $(cat "$f")) from an earlier start is still running; run stop-cluster.sh first"
  fi
done
rm -rf "$BASE"/{etc,bin,spool,log,run,munge}
mkdir -p "$BASE"/{etc,bin,spool/ctld,spool/d,log,run,munge}
chmod 755 "$BASE" "$BASE/munge"   # munged insists on sane permissions of its socket dir

# On any failure from here on, stop what was already started.
started_ok=
cleanup_on_error() {
  if [ -z "$started_ok" ]; then
    log "start failed; last log lines:"
    for f in "$BASE"/log/*; do [ -f "$f" ] && { echo "== $f" >&2; tail -n 20 "$f" >&2; }; done
    GANBENCH_SLURM_BASE="$BASE" "$HERE/stop-cluster.sh" >&2 || true
  fi
}
trap cleanup_on_error EXIT

# ---------------------------------------------------------------------------------------------
# 2. node facts, ports
# ---------------------------------------------------------------------------------------------
NODE=$(hostname -s 2>/dev/null || true)
[ -n "$NODE" ] || NODE=$(cat /proc/sys/kernel/hostname)
NODE=${NODE%%.*}
# At least 4 CPUs are declared even on smaller runners (SlurmdParameters=config_overrides below
# makes slurmd accept that), so rules with a few threads can still be scheduled; the CPUs are
# only oversubscribed, nothing is enforced (no cgroups).
CPUS=$(nproc)
[ "$CPUS" -ge 4 ] || CPUS=4
MEM_TOTAL_MB=$(( $(awk '/^MemTotal:/{print $2}' /proc/meminfo) / 1024 ))
MEM_MB=$(( MEM_TOTAL_MB / 2 ))      # advertise half the RAM (never more than slurmd detects)
# Fake GPUs: gres/gpu needs a character device per GPU (a regular file is rejected) and
# drops a GPU without File=. Nothing opens them (no cgroup device constraint with task/none);
# they only number the GPUs. Always-present, harmless devices, /dev/null first:
GPU_DEVS=(/dev/null /dev/zero /dev/full /dev/urandom)
case "$GPUS" in [1-4]) ;; *) die "GANBENCH_SLURM_GPUS must be 1..4, not '$GPUS'" ;; esac
for d in "${GPU_DEVS[@]:0:$GPUS}"; do [ -c "$d" ] || die "$d is not a character device"; done

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p=$1
  while [ "$p" -lt 65000 ]; do
    port_busy "$p" || { echo "$p"; return; }
    p=$((p + 1))
  done
  die "no free TCP port found"
}
CTLD_PORT=${GANBENCH_SLURMCTLD_PORT:-$(free_port 6817)}
SLURMD_PORT=${GANBENCH_SLURMD_PORT:-$(free_port $((CTLD_PORT + 1)))}
port_busy "$CTLD_PORT" && die "slurmctld port $CTLD_PORT is in use"
port_busy "$SLURMD_PORT" && die "slurmd port $SLURMD_PORT is in use"

# ---------------------------------------------------------------------------------------------
# 3. munged with its own key and socket
# ---------------------------------------------------------------------------------------------
SOCK="$BASE/munge/munge.socket"
[ "${#SOCK}" -lt 100 ] || die "munge socket path too long for a unix socket (${#SOCK} chars): $SOCK; use a shorter GANBENCH_SLURM_BASE"
dd if=/dev/urandom of="$BASE/etc/munge.key" bs=1024 count=1 status=none
chmod 400 "$BASE/etc/munge.key"
# -F: stay in the foreground (so $! is munged itself); --force: munged refuses root otherwise.
munged -F --force \
  --socket="$SOCK" \
  --key-file="$BASE/etc/munge.key" \
  --pid-file="$BASE/munge/munged.pid" \
  --seed-file="$BASE/munge/munged.seed" \
  --log-file="$BASE/log/munged.log" \
  >"$BASE/log/munged.out" 2>&1 </dev/null &
echo $! >"$BASE/run/munged.pid"
for _ in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || die "munged did not create its socket"
munge -n -S "$SOCK" | unmunge -S "$SOCK" >/dev/null || die "munge/unmunge round trip failed"

# ---------------------------------------------------------------------------------------------
# 4. slurm.conf, gres.conf, an empty plugstack.conf
# ---------------------------------------------------------------------------------------------
: >"$BASE/etc/plugstack.conf"   # no site SPANK plugins from /etc/slurm
cat >"$BASE/etc/slurm.conf" <<EOF
# ganbench CI: one node on loopback, generated by tests/slurm/start-cluster.sh
ClusterName=ganbench-ci
SlurmctldHost=${NODE}(127.0.0.1)
SlurmctldPort=${CTLD_PORT}
SlurmdPort=${SLURMD_PORT}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=${SOCK}
PlugStackConfig=${BASE}/etc/plugstack.conf
StateSaveLocation=${BASE}/spool/ctld
SlurmdSpoolDir=${BASE}/spool/d
SlurmctldPidFile=${BASE}/run/slurmctld.self.pid
SlurmdPidFile=${BASE}/run/slurmd.self.pid
SlurmctldLogFile=${BASE}/log/slurmctld.log
SlurmdLogFile=${BASE}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
# no cgroups / systemd needed (containers, CI runners)
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# no slurmdbd: sacct does not work -> Snakemake's SLURM executor uses squeue
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
# trust the node line below even if slurmd detects a different topology (containers)
SlurmdParameters=config_overrides
# finished jobs stay visible to squeue/scontrol for an hour: the executor's squeue status
# command needs MinJobAge >= 3 x slurm-init-seconds-before-status-checks, and the test
# inspects the finished jobs with scontrol afterwards
MinJobAge=3600
GresTypes=gpu
NodeName=${NODE} NodeAddr=127.0.0.1 NodeHostname=${NODE} CPUs=${CPUS} RealMemory=${MEM_MB} Gres=gpu:${GPUS} State=UNKNOWN
PartitionName=debug Nodes=${NODE} Default=YES MaxTime=INFINITE State=UP
EOF
{
  echo "AutoDetect=off"
  for d in "${GPU_DEVS[@]:0:$GPUS}"; do echo "NodeName=${NODE} Name=gpu File=$d"; done
} >"$BASE/etc/gres.conf"

# snakemake-executor-plugin-slurm-jobstep strips SLURM_* (SLURM_CONF included) from the
# environment of the 'srun' it runs inside each job; with no /etc/slurm/slurm.conf that srun
# would not find the cluster. This shim (first on the jobs' PATH) puts SLURM_CONF back.
cat >"$BASE/bin/srun" <<EOF
#!/bin/sh
SLURM_CONF='${BASE}/etc/slurm.conf'
export SLURM_CONF
exec /usr/bin/srun "\$@"
EOF
chmod 755 "$BASE/bin/srun"
[ -x /usr/bin/srun ] || sed -i "s#/usr/bin/srun#$(command -v srun)#" "$BASE/bin/srun"

cat >"$BASE/env.sh" <<EOF
# source me: use the ganbench CI SLURM cluster under ${BASE}
export SLURM_CONF='${BASE}/etc/slurm.conf'
export PATH='${BASE}/bin':"\$PATH"
EOF

# ---------------------------------------------------------------------------------------------
# 5. slurmctld + slurmd (foreground mode, backgrounded here)
# ---------------------------------------------------------------------------------------------
export SLURM_CONF="$BASE/etc/slurm.conf"
slurmctld -D -i -f "$SLURM_CONF" >"$BASE/log/slurmctld.out" 2>&1 </dev/null &
echo $! >"$BASE/run/slurmctld.pid"
slurmd -D -N "$NODE" -f "$SLURM_CONF" >"$BASE/log/slurmd.out" 2>&1 </dev/null &
echo $! >"$BASE/run/slurmd.pid"

deadline=$(( $(now_ms) + READY_TIMEOUT * 1000 ))
state=
while [ "$(now_ms)" -lt "$deadline" ]; do
  for name in munged slurmctld slurmd; do
    kill -0 "$(cat "$BASE/run/$name.pid")" 2>/dev/null || die "$name exited during start-up"
  done
  state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null || true)
  [ "$state" = idle ] && break
  sleep 0.2
done
[ "$state" = idle ] || { sinfo -R >&2 || true; die "node $NODE not idle after ${READY_TIMEOUT}s (state: '${state}')"; }
T1=$(now_ms)

# ---------------------------------------------------------------------------------------------
# 6. smoke test: a job step, and a batch job that gets the (fake) GPU
# ---------------------------------------------------------------------------------------------
timeout 60 srun -N1 -n1 true || die "srun smoke test failed"
jid=$(sbatch --parsable --gpus=1 -o "$BASE/log/smoke-gpu-%j.out" --wrap 'echo "gpu job on $(hostname -s)"')
jid=${jid%%;*}
for _ in $(seq 1 300); do
  st=$(squeue -h -j "$jid" --states=all -o %T 2>/dev/null || true)
  case "$st" in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY) break ;; esac
  sleep 0.2
done
[ "$st" = COMPLETED ] || die "GPU smoke job $jid ended as '$st'"
T2=$(now_ms)

started_ok=1
log "node $NODE idle after $(( T1 - T0 )) ms, smoke jobs done after $(( T2 - T0 )) ms"
log "PIDs: munged=$(cat "$BASE/run/munged.pid") slurmctld=$(cat "$BASE/run/slurmctld.pid") slurmd=$(cat "$BASE/run/slurmd.pid")"
echo "export SLURM_CONF='$SLURM_CONF' PATH='$BASE/bin':\$PATH"
