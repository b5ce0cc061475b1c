#!/usr/bin/env bash
# cost-echo.sh: server CPU time per echoed message at a capped rate, read
# from the server's own threads (/proc/PID/task/*/schedstat: nanoseconds on
# a CPU, kernel time included, SQPOLL and io-wq threads included), not from
# the server core's busy share, which this shared VM does not always report
# faithfully. Complements the kit's compare-echo.sh --rate (same loadgen,
# same pinning: loadgen on cpu0, server on cpu1).
#
# Each round runs every server in turn: start it, wait for "listening on",
# send exactly N messages (--rate R --total N) over C connections, and divide
# the server's CPU time during the run by N. Prints each round and the
# median per server, with its ratio to the first server.
#
# usage: cost-echo.sh [--rate 50000] [--total 250000] [--conns 64] [--rounds 3]
#                     NAME='SERVER COMMAND with {addr}' ...   ({bin}: the kit's binaries)
set -uo pipefail
KIT=${BENCH_KIT:-$(cd "$(dirname "$0")/../.." && pwd)/../shared/bench}
BIN=$KIT/target/release
RATE=50000 TOTAL=250000 CONNS=64 ROUNDS=3
while [[ $# -gt 0 && $1 == --* ]]; do
  case $1 in
    --rate) RATE=$2 ;;
    --total) TOTAL=$2 ;;
    --conns) CONNS=$2 ;;
    --rounds) ROUNDS=$2 ;;
    *) sed -n '2,16s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
  esac
  shift 2
done
NAMES=() CMDS=()
for spec in "$@"; do NAMES+=("${spec%%=*}"); CMDS+=("${spec#*=}"); done
[[ ${#NAMES[@]} -gt 0 ]] || { echo "no servers given" >&2; exit 2; }
TMP=$(mktemp -d)
trap 'kill -9 -- -"${SPID:-0}" 2>/dev/null; rm -rf "$TMP"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Nanoseconds the process's threads have spent on a CPU.
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ t += $1 } END { printf "%d", t }'; }

echo "# cost: $CONNS conns x 64 B, $TOTAL messages at $RATE msgs/s per run, $ROUNDS rounds; loadgen on cpu0, server on cpu1"
for ((r = 1; r <= ROUNDS; r++)); do
  for i in "${!NAMES[@]}"; do
    name=${NAMES[$i]}
    port=$(free_port)
    cmd=${CMDS[$i]//\{addr\}/127.0.0.1:$port}
    cmd=${cmd//\{bin\}/$BIN}
    # setsid: its own process group; exec: the pid is the server's.
    setsid taskset -c 1 bash -c "exec $cmd" >"$TMP/server.log" 2>&1 </dev/null &
    SPID=$!
    for _ in $(seq 100); do grep -q "listening on" "$TMP/server.log" && break; sleep 0.1; done
    before=$(cpu_ns "$SPID")
    out=$(taskset -c 0 timeout 120 "$BIN/loadgen" --addr "127.0.0.1:$port" --conns "$CONNS" --size 64 \
      --rate "$RATE" --total "$TOTAL" 2>&1 | tail -n 1)
    after=$(cpu_ns "$SPID")
    kill -TERM -- -"$SPID" 2>/dev/null
    for _ in $(seq 30); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
    kill -9 -- -"$SPID" 2>/dev/null
    wait "$SPID" 2>/dev/null
    us=$(awk -v a="$before" -v b="$after" -v n="$TOTAL" 'BEGIN { printf "%.3f", (b - a) / n / 1000 }')
    printf 'round %d %-14s %8s us/msg   %s\n' "$r" "$name" "$us" "${out#loadgen }"
    echo "$name $us" >>"$TMP/results"
  done
done
echo
printf '%-14s %10s %8s\n' server "us/msg med" ratio
first=
for name in "${NAMES[@]}"; do
  med=$(awk -v n="$name" '$1 == n { print $2 }' "$TMP/results" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
  first=${first:-$med}
  printf '%-14s %10.3f %8.2f\n' "$name" "$med" "$(awk -v a="$med" -v b="$first" 'BEGIN { print a / b }')"
done
echo "us/msg: server CPU time (all its threads, user + kernel) during the run / messages; ratio: to the first server"
