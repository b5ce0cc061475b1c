#!/usr/bin/env bash
# issue13.sh: the 2-core measurements of issue 13 (workers) in one run, raw
# output in OUT (default benches/results/issue13):
#   http-workers.txt  (a) a server-bound load: http_server --work-us 50
#                     (50 us of CPU per request) under wrk -t1 -c64, 1 worker
#                     vs 2 workers, alternating, ROUNDS rounds of SECS s
#   echo-cost.txt     (b) async_echo at a capped 50,000 msgs/s (the kit's
#                     loadgen, 64 connections, on core 0; the server free to
#                     use both cores): the server's CPU time per message with
#                     --threads 1 and --threads 2, from its own /proc/PID/stat
#   scale.txt         (c) scale.sh 1 1 (the 16-core table's script, here
#                     with one core each)
#   machine.txt       kernel, cores, CPU, load, commit
# About 3 minutes at 3 rounds of 5 s. usage: benches/scripts/issue13.sh [OUT] [ROUNDS] [SECS]
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$ROOT/benches/results/issue13}
ROUNDS=${2:-3}
SECS=${3:-5}
KIT=${KIT:-$ROOT/../shared/bench}
[[ -d $KIT ]] || { echo "issue13.sh: the bench kit is not at $KIT (set KIT=)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "issue13.sh: wrk not found" >&2; exit 2; }
mkdir -p "$OUT"
cargo build --release -q --manifest-path "$KIT/Cargo.toml" || exit 2
cargo build --release -q --manifest-path "$ROOT/Cargo.toml" -p examples --bin async_echo --bin http_server || exit 2
BIN=$ROOT/target/release
LOADGEN=$KIT/target/release/loadgen
TMP=$(mktemp -d /tmp/issue13.XXXXXX)
trap 'kill -KILL "${SRV:-0}" 2>/dev/null; rm -rf "$TMP"' EXIT
{
  uname -a; nproc; grep -m1 'model name' /proc/cpuinfo; date -u; echo "load before: $(cat /proc/loadavg)"
  git -C "$ROOT" log -1 --format='commit %h %s'
} >"$OUT/machine.txt"

# start CMD...: starts a server on 127.0.0.1:0, sets SRV and ADDR.
start() {
  "$@" --addr 127.0.0.1:0 >"$TMP/out" 2>"$TMP/err" &
  SRV=$!
  local i
  for ((i = 0; i < 500; i++)); do grep -q 'listening on' "$TMP/out" && break; sleep 0.01; done
  ADDR=$(sed -n 's/^listening on \([^ ]*\).*/\1/p' "$TMP/out")
  [[ -n $ADDR ]] || { echo "issue13.sh: $* did not start: $(cat "$TMP/err")" >&2; exit 1; }
}
stop() { kill -TERM "$SRV" 2>/dev/null; wait "$SRV" 2>/dev/null; SRV=; }
# jiffies PID: user + system CPU time of the process, all threads.
jiffies() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
median() { sort -n | awk '{a[NR] = $1} END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }

echo "== (a) http_server --work-us 50, wrk -t1 -c64 -d${SECS}s" | tee "$OUT/http-workers.txt"
declare -A REQ
for ((r = 1; r <= ROUNDS; r++)); do
  for t in 1 2; do
    start "$BIN/http_server" --threads "$t" --work-us 50
    rps=$(timeout $((SECS + 30)) wrk -t1 -c64 -d"${SECS}s" "http://$ADDR/" | awk '/Requests\/sec/ {print $2}')
    stop
    REQ[$t]+="$rps"$'\n'
    echo "round $r workers $t: $rps req/s" | tee -a "$OUT/http-workers.txt"
  done
done
a1=$(printf '%s' "${REQ[1]}" | median) a2=$(printf '%s' "${REQ[2]}" | median)
python3 -c "print(f'median: 1 worker {$a1:.0f} req/s, 2 workers {$a2:.0f} req/s, ratio {$a2 / $a1:.2f} (target >= 1.8)')" |
  tee -a "$OUT/http-workers.txt"

echo "== (b) async_echo at 50,000 msgs/s capped, 64 conns, loadgen on core 0, ${SECS}s: server CPU us per message" |
  tee "$OUT/echo-cost.txt"
declare -A COST
for ((r = 1; r <= ROUNDS; r++)); do
  for t in 1 2; do
    start "$BIN/async_echo" --quiet --threads "$t"
    j0=$(jiffies "$SRV")
    line=$(taskset -c 0 timeout $((SECS + 30)) "$LOADGEN" --addr "$ADDR" --conns 64 --size 64 --secs "$SECS" \
      --warmup 0 --rate 50000 | sed -n 1p)
    j1=$(jiffies "$SRV")
    stop
    msgs=$(printf '%s' "$line" | python3 -c "import json, sys; print(json.load(sys.stdin)['msgs_per_s'])")
    us=$(python3 -c "import os; print(f'{($j1 - $j0) / os.sysconf(\"SC_CLK_TCK\") * 1e6 / ($msgs * $SECS):.2f}')")
    COST[$t]+="$us"$'\n'
    echo "round $r threads $t: $msgs msgs/s, $us us/msg" | tee -a "$OUT/echo-cost.txt"
  done
done
b1=$(printf '%s' "${COST[1]}" | median) b2=$(printf '%s' "${COST[2]}" | median)
python3 -c "print(f'median: --threads 1 {$b1:.2f} us/msg, --threads 2 {$b2:.2f} us/msg, ratio {$b2 / $b1:.3f} (target <= 1.05)')" |
  tee -a "$OUT/echo-cost.txt"

echo "== (c) scale.sh 1 1" | tee "$OUT/scale.txt"
"$ROOT/benches/scripts/scale.sh" 1 1 --secs "$SECS" --rounds "$ROUNDS" 2>&1 | tee -a "$OUT/scale.txt"
