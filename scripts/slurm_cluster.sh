#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine (127.0.0.1), for tests and demos of `envlens slurm`.
#
#   scripts/slurm_cluster.sh start BASE   install slurm-wlm + munge if missing, start munged, slurmctld
#                                         and slurmd with every file under BASE; wait until the node is
#                                         idle; print `export SLURM_CONF=BASE/etc/slurm.conf`
#   scripts/slurm_cluster.sh stop BASE    cancel jobs, stop the three daemons (by their PID files)
#   scripts/slurm_cluster.sh status BASE  exit 0 when the node answers
#
# Idempotent: start on a running cluster only prints the export line; stop on a stopped one is a no-op.
# BASE and every folder above it must be executable by everyone (munged refuses a socket it cannot
# reach otherwise), so not under /root or a 0700 pytest folder; /tmp/<name> is fine.
# Ports: SLURMCTLD_PORT / SLURMD_PORT (default 6817 / 6818), so two clusters can coexist.
# See docs/batch.md and /work/shared/slurm.md for the measured facts behind each step.
set -euo pipefail

cmd="${1:-}"
base="${2:-}"
if [ -z "$cmd" ] || [ -z "$base" ]; then
  echo "usage: $0 start|stop|status BASE" >&2
  exit 2
fi
mkdir -p "$base"
base="$(cd "$base" && pwd)"
conf="$base/etc/slurm.conf"
munge_socket="$base/munge/munge.socket.2"
host="$(hostname -s)"

say() { echo "slurm_cluster: $*" >&2; }

pid_alive() {  # pid_alive PIDFILE NAME: the PID file names a live process called NAME
  local pidfile="$1" name="$2" pid
  [ -f "$pidfile" ] || return 1
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] || return 1
  [ "$(cat "/proc/$pid/comm")" = "$name" ] || return 1
  # A stopped daemon can linger as a zombie for a few seconds: that is not alive.
  ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null
}

node_state() {
  SLURM_CONF="$conf" sinfo -h -n "$host" -o %T 2>/dev/null | head -n1 || true
}

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
    && command -v sbatch >/dev/null && command -v mungekey >/dev/null; then
    return 0
  fi
  say "installing slurm-wlm and munge (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
  # The Debian packages start no service here (no systemd); everything below runs them by hand.
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends slurm-wlm munge >&2
}

check_reachable() {  # every folder above the munge socket must be executable by everyone
  local dir="$base"
  while [ "$dir" != "/" ]; do
    if [ "$(( 0$(stat -c %a "$dir") & 1 ))" -eq 0 ]; then
      say "error: $dir is not executable by everyone; munged's socket must be reachable."
      say "Choose a BASE under /tmp (for example /tmp/envlens-slurm), not under /root."
      exit 2
    fi
    dir="$(dirname "$dir")"
  done
}

write_conf() {
  local hw
  # The node's hardware words (CPUs=... RealMemory=...) come from slurmd itself, minus its NodeName.
  hw="$(slurmd -C | head -n1 | sed -E 's/^NodeName=[^ ]+ //')"
  mkdir -p "$base/etc" "$base/state" "$base/spool" "$base/run" "$base/log"
  cat >"$conf" <<EOF
ClusterName=envlens
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=${SLURMCTLD_PORT:-6817}
SlurmdPort=${SLURMD_PORT:-6818}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$munge_socket
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SwitchType=switch/none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MailProg=/bin/true
StateSaveLocation=$base/state
SlurmdSpoolDir=$base/spool
SlurmctldPidFile=$base/run/slurmctld.pid
SlurmdPidFile=$base/run/slurmd.pid
SlurmctldLogFile=$base/log/slurmctld.log
SlurmdLogFile=$base/log/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 $hw State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
  mkdir -p "$base/munge"
  chmod 755 "$base" "$base/munge"
  local key="$base/munge/munge.key"
  if [ ! -f "$key" ]; then
    mungekey --create --keyfile="$key" >&2
    chmod 600 "$key"
  fi
  if ! pid_alive "$base/munge/munged.pid" munged; then
    rm -f "$munge_socket" "$munge_socket.lock"
    munged --key-file="$key" --socket="$munge_socket" --pid-file="$base/munge/munged.pid" \
      --log-file="$base/munge/munged.log" --seed-file="$base/munge/munged.seed"
  fi
  if ! munge -S "$munge_socket" -n | unmunge -S "$munge_socket" >/dev/null; then
    say "error: munge does not answer on $munge_socket; see $base/munge/munged.log"
    exit 1
  fi
}

start() {
  install_packages
  check_reachable
  if pid_alive "$base/run/slurmctld.pid" slurmctld && pid_alive "$base/run/slurmd.pid" slurmd \
    && [ "$(node_state)" = "idle" ]; then
    echo "export SLURM_CONF=$conf"
    return 0
  fi
  write_conf
  start_munge
  export SLURM_CONF="$conf"
  pid_alive "$base/run/slurmctld.pid" slurmctld || slurmctld -c
  pid_alive "$base/run/slurmd.pid" slurmd || slurmd
  local state=""
  for _ in $(seq 1 150); do  # up to 30 s; about 1 s when measured
    state="$(node_state)"
    case "$state" in
      idle | mixed | allocated) echo "export SLURM_CONF=$conf"; return 0 ;;
    esac
    sleep 0.2
  done
  say "error: the node did not become idle (state: ${state:-no answer}); logs in $base/log"
  tail -n 20 "$base/log/slurmctld.log" "$base/log/slurmd.log" >&2 || true
  exit 1
}

stop_pid() {  # stop_pid PIDFILE NAME: TERM it, wait up to 10 s, then KILL
  local pidfile="$1" name="$2" pid
  pid_alive "$pidfile" "$name" || { rm -f "$pidfile"; return 0; }
  # After `scontrol shutdown` the daemon may exit (and remove its PID file) right now: an unread
  # file is a daemon gone, not an error that stops the script before munged is stopped.
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    pid_alive "$pidfile" "$name" || { rm -f "$pidfile"; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

stop() {
  if [ -f "$conf" ] && command -v scancel >/dev/null; then
    export SLURM_CONF="$conf"
    if pid_alive "$base/run/slurmctld.pid" slurmctld; then
      scancel --full --user="$(id -un)" 2>/dev/null || true
      scontrol shutdown 2>/dev/null || true
    fi
  fi
  stop_pid "$base/run/slurmd.pid" slurmd
  stop_pid "$base/run/slurmctld.pid" slurmctld
  stop_pid "$base/munge/munged.pid" munged
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) [ -f "$conf" ] && [ -n "$(node_state)" ] ;;
  *) echo "usage: $0 start|stop|status BASE" >&2; exit 2 ;;
esac
