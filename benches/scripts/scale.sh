#!/usr/bin/env bash
# scale.sh SERVER_CORES CLIENT_CORES [--secs 5] [--conns 64] [--rounds 2]
#
# Multi-core echo scaling, with the neutral kit's load generators: the
# servers run pinned to SERVER_CORES (a count: cores 0.. are taken by the
# clients, the servers get the next SERVER_CORES), one `loadgen` per client
# core, each with --conns connections of 64-byte ping-pong. Prints msgs/s
# and the server cores used (the server's own CPU time over the run) for
#   weft      async_echo --threads N   (N = SERVER_CORES)
#   weft-rp   async_echo --threads N --reuseport
#   tokio-mt  the kit's tokio echo, multi_thread with N workers
#   tokio-ct  the kit's tokio echo, current_thread
# and the ratios to tokio-mt. On a 2-core machine `scale.sh 1 1` runs
# everything with one core each; on a 16-core one, `scale.sh 8 8` is the
# issue's table. Every run is bounded (--secs + 1 s warm-up, `timeout`).
set -euo pipefail
[[ $# -ge 2 && $1 =~ ^[0-9]+$ && $2 =~ ^[0-9]+$ && $1 -ge 1 && $2 -ge 1 ]] ||
  { sed -n '2,15s/^# \{0,1\}//p' "$0" >&2; exit 2; }
SERVER_CORES=$1 CLIENT_CORES=$2
shift 2
SECS=5 CONNS=64 ROUNDS=2
while [[ $# -gt 0 ]]; do
  case $1 in
    --secs) SECS=$2 ;;
    --conns) CONNS=$2 ;;
    --rounds) ROUNDS=$2 ;;
    *) echo "scale.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
NCPU=$(nproc)
((SERVER_CORES + CLIENT_CORES <= NCPU)) || { echo "scale.sh: $SERVER_CORES + $CLIENT_CORES cores, the machine has $NCPU" >&2; exit 2; }

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KIT=${KIT:-$ROOT/../shared/bench}
[[ -d $KIT ]] || { echo "scale.sh: the bench kit is not at $KIT (set KIT=)" >&2; exit 2; }
cargo build --release --quiet --manifest-path "$KIT/Cargo.toml"
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p examples --bin async_echo
BIN=$KIT/target/release
ECHO=$ROOT/target/release/async_echo
CLIENTS=$(seq -s, 0 $((CLIENT_CORES - 1)))
SERVERS=$(seq -s, "$CLIENT_CORES" $((CLIENT_CORES + SERVER_CORES - 1)))
N=$SERVER_CORES
TMP=$(mktemp -d /tmp/scale.XXXXXX)
trap 'pkill -KILL -g "$(cat "$TMP/pgid" 2>/dev/null || echo 0)" 2>/dev/null; rm -rf "$TMP"' EXIT

declare -A CMD=(
  [weft]="$ECHO --quiet --threads $N --addr {addr}"
  [weft-rp]="$ECHO --quiet --threads $N --reuseport --addr {addr}"
  [tokio-mt]="$BIN/ref_tokio_echo --flavor multi_thread --workers $N --addr {addr}"
  [tokio-ct]="$BIN/ref_tokio_echo --addr {addr}"
)
ORDER=(tokio-mt weft weft-rp tokio-ct)

# cpu PGID: CPU time (user + system jiffies) of every process in the group.
# The server's own accounting, not /proc/stat's per-core counters: on the
# VM this was written on, those show a pinned, half-busy server core as
# nearly idle (tickless accounting), while the process's counters are exact.
cpu() {
  local t=0 f
  for f in /proc/[0-9]*/stat; do
    # Fields after the command name (which may hold spaces): state is $1,
    # pgrp $3, utime $12, stime $13.
    read -r -a st < <(sed 's/^.*) //' "$f" 2>/dev/null) || continue
    [[ ${st[2]:-} == "$1" ]] && t=$((t + st[11] + st[12]))
  done
  echo "$t"
}

run() { # NAME -> prints "msgs cores"
  local name=$1 port cmd log=$TMP/server.log i pids=() total=0
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cmd=${CMD[$name]//\{addr\}/127.0.0.1:$port}
  : >"$log"
  setsid taskset -c "$SERVERS" timeout -k 2 $((SECS + 30)) $cmd >"$log" 2>&1 &
  local srv=$!
  echo "$srv" >"$TMP/pgid"
  for ((i = 0; i < 1000; i++)); do grep -q 'listening on' "$log" && break; sleep 0.01; done
  grep -q 'listening on' "$log" || { echo "0 0"; kill -KILL -- "-$srv" 2>/dev/null; return; }
  local b0 t0 b1 t1
  for ((i = 0; i < CLIENT_CORES; i++)); do
    taskset -c "$i" timeout $((SECS + 20)) "$BIN/loadgen" --addr "127.0.0.1:$port" --conns "$CONNS" \
      --size 64 --secs "$SECS" --warmup 1 >"$TMP/client.$i" 2>&1 &
    pids+=($!)
  done
  sleep 1 # the warm-up
  b0=$(cpu "$srv") t0=$(date +%s.%N)
  wait "${pids[@]}" || true
  b1=$(cpu "$srv") t1=$(date +%s.%N)
  kill -TERM -- "-$srv" 2>/dev/null; wait "$srv" 2>/dev/null || true
  for ((i = 0; i < CLIENT_CORES; i++)); do
    total=$(python3 -c "import json,sys; print($total + json.loads(open('$TMP/client.$i').readline())['msgs_per_s'])")
  done
  python3 -c "import os; hz = os.sysconf('SC_CLK_TCK'); print(f'{$total:.0f} {($b1 - $b0) / hz / ($t1 - $t0):.2f}')"
}

declare -A MSGS CORES
for ((r = 1; r <= ROUNDS; r++)); do
  for name in "${ORDER[@]}"; do
    read -r m c < <(run "$name")
    MSGS[$name]+="$m " CORES[$name]+="$c "
    echo "round $r $name: $m msgs/s, $c server cores" >&2
  done
done
echo "# echo scaling: servers on cores $SERVERS (N = $N), $CLIENT_CORES loadgen(s) on cores $CLIENTS x $CONNS conns, 64 B ping-pong, ${SECS}s x $ROUNDS rounds (median)"
printf '%-10s %12s %8s %10s\n' server msgs/s cores "vs tokio-mt"
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR] = $1} END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
base=$(echo "${MSGS[tokio-mt]}" | median)
for name in "${ORDER[@]}"; do
  m=$(echo "${MSGS[$name]}" | median) c=$(echo "${CORES[$name]}" | median)
  printf '%-10s %12.0f %8.2f %10s\n' "$name" "$m" "$c" "$(python3 -c "print(f'{$m / $base:.2f}' if $base else 'n/a')")"
done
