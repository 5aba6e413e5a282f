#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for the SLURM executor test.
#   .ci/slurm-local.sh install      # Debian packages: slurmctld slurmd slurm-client munge (root)
#   .ci/slurm-local.sh start DIR    # munged + slurmctld + slurmd; writes DIR/env to source
#   .ci/slurm-local.sh stop DIR     # stops the daemons it started, by PID
# The node has this machine's cores, its memory minus a margin, and one fake GPU (gres on a
# character device), so `resources: gpu=1` jobs are scheduled as GPU jobs, one at a time.
set -euo pipefail

cmd=${1:?usage: slurm-local.sh install|start DIR|stop DIR}

if [[ $cmd == install ]]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        slurmctld slurmd slurm-client munge > /dev/null
    exit 0
fi

R=$(realpath -m "${2:?a scratch directory}")

if [[ $cmd == stop ]]; then
    for pid in "$R"/slurmd.pid "$R"/slurmctld.pid "$R"/munge/munged.pid; do
        [[ -f $pid ]] && kill "$(cat "$pid")" 2> /dev/null || true
    done
    exit 0
fi

[[ $cmd == start ]] || { echo "unknown command $cmd" >&2; exit 2; }
mkdir -p "$R"/state "$R"/spool "$R"/log "$R"/bin "$R"/munge
chmod 755 "$R"  # munged runs as the munge user and must reach its folder (mktemp -d is 700)
cpus=$(nproc)
mem=$(( $(free -m | awk '/^Mem:/ {print $7}') * 8 / 10 ))
[[ -e $R/nvidia0 ]] || mknod "$R/nvidia0" c 1 3

cat > "$R/slurm.conf" << EOF
ClusterName=local
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
StateSaveLocation=$R/state
SlurmdSpoolDir=$R/spool
SlurmctldPidFile=$R/slurmctld.pid
SlurmdPidFile=$R/slurmd.pid
SlurmctldLogFile=$R/log/slurmctld.log
SlurmdLogFile=$R/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus Boards=1 SocketsPerBoard=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=$mem Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
cat > "$R/gres.conf" << EOF
AutoDetect=off
NodeName=localhost Name=gpu File=$R/nvidia0
EOF

# munge: the package creates the key; run the daemon on our own socket and pid file
chown munge:munge "$R/munge"
runuser -u munge -- /usr/sbin/munged --socket="$R/munge/munge.socket.2" \
    --pid-file="$R/munge/munged.pid" --log-file="$R/munge/munged.log" --seed-file="$R/munge/seed"
echo "AuthInfo=socket=$R/munge/munge.socket.2" >> "$R/slurm.conf"

export SLURM_CONF=$R/slurm.conf
slurmctld -f "$SLURM_CONF"
slurmd -N localhost -f "$SLURM_CONF"

# the executor's job step strips SLURM_* (SLURM_CONF too) before its inner srun: a
# wrapper first on PATH puts it back
cat > "$R/bin/srun" << EOF
#!/usr/bin/env bash
export SLURM_CONF=$R/slurm.conf
exec /usr/bin/srun "\$@"
EOF
chmod +x "$R/bin/srun"
cat > "$R/env" << EOF
export SLURM_CONF=$R/slurm.conf
export PATH=$R/bin:\$PATH
EOF

for _ in $(seq 60); do
    state=$(sinfo -h -N -o %t 2> /dev/null || true)
    [[ $state == idle ]] && { echo "SLURM up: node idle ($cpus CPUs, $mem MB, 1 GPU)"; exit 0; }
    sleep 1
done
echo "SLURM did not come up (node state: ${state:-none}); logs in $R/log" >&2
exit 1
