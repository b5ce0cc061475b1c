#!/usr/bin/env bash
# hyper.sh: the same hyper 1.x service on weft (examples' hyper_server) and on
# tokio (benches' hyper_tokio, current_thread and multi_thread with 1 worker),
# in one run, output in OUT (default benches/results/hyper):
#   hyper-c64.txt, hyper-c64-p16.txt   the neutral kit's compare-http.sh
#                                      (wrk -c64, plain and --pipeline 16)
#   hyper-count.txt                    user-space instructions per request
#                                      under callgrind
# Per request = (Ir at N2 requests - Ir at N1) / (N2 - N1), as the kit's
# count-echo.sh does for echo: a fresh server under `valgrind --tool=callgrind`
# (all threads) on core 1, benches' http_count driving exactly N requests over
# 64 keep-alive connections on core 0, then SIGTERM; start-up, accepts and
# shutdown cancel out.
# usage: hyper.sh [OUT] [ROUNDS]   (env: BENCH_KIT, N1, N2, CONNS, PIPELINES="1 16")
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KIT=${BENCH_KIT:-$ROOT/../shared/bench}
[[ -x $KIT/compare-http.sh ]] || KIT=/work/shared/bench
OUT=${1:-$ROOT/benches/results/hyper}
ROUNDS=${2:-3}
N1=${N1:-5000} N2=${N2:-25000} CONNS=${CONNS:-64} PIPELINES=${PIPELINES:-1}
mkdir -p "$OUT"
cargo build --release -q --manifest-path "$ROOT/Cargo.toml" -p examples --bin hyper_server \
  -p benches --bin hyper_tokio --bin http_count || exit 1
E=$ROOT/target/release
NAMES=(weft tokio_ct tokio_mt1)
CMDS=("$E/hyper_server --quiet --addr {addr}"
  "$E/hyper_tokio --flavor current_thread --addr {addr}"
  "$E/hyper_tokio --flavor multi_thread --addr {addr}")
SERVERS=()
for i in "${!NAMES[@]}"; do SERVERS+=("${NAMES[$i]}=${CMDS[$i]}"); done

run() { local f=$OUT/$1.txt; shift; echo "== $f"; "$@" 2>&1 | tee "$f"; }
{ uname -a; nproc; grep -m1 'model name' /proc/cpuinfo; date -u; git -C "$ROOT" rev-parse HEAD; } >"$OUT/machine.txt"
run hyper-c64 "$KIT/compare-http.sh" --conns 64 --secs 5 --rounds "$ROUNDS" --pipeline 1 "${SERVERS[@]}"
run hyper-c64-p16 "$KIT/compare-http.sh" --conns 64 --secs 5 --rounds "$ROUNDS" --pipeline 16 "${SERVERS[@]}"

# count NAME CMD N PIPELINE: callgrind's Ir total for a server that answered N requests.
count() {
  local cmd=$2 n=$3 pipe=$4 dir port srv i ir
  dir=$(mktemp -d /tmp/hyper-count.XXXXXX)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cmd=${cmd//'{addr}'/127.0.0.1:$port}
  # shellcheck disable=SC2086 # the command is words
  setsid taskset -c 1 timeout -k 5 600 valgrind --tool=callgrind --dump-instr=no \
    --callgrind-out-file="$dir/cg.%p" $cmd >"$dir/log" 2>&1 </dev/null &
  srv=$!
  for ((i = 0; i < 6000; i++)); do
    grep -qs 'listening on' "$dir/log" && break
    kill -0 "$srv" 2>/dev/null || break
    sleep 0.01
  done
  if taskset -c 0 timeout 600 "$E/http_count" --addr "127.0.0.1:$port" --conns "$CONNS" --requests "$n" \
    --pipeline "$pipe" >"$dir/client" 2>&1; then
    sleep 0.5
    kill -TERM -- "-$srv" 2>/dev/null
    for ((i = 0; i < 300; i++)); do kill -0 "$srv" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$srv" 2>/dev/null
    wait "$srv" 2>/dev/null
    ir=$(cat "$dir"/cg.* | awk '/^summary:/ { s += $2 } END { print s + 0 }')
    echo "$ir"
  else
    kill -KILL -- "-$srv" 2>/dev/null
    echo "FAIL: $(tail -n 2 "$dir/client")" >&2
    echo 0
  fi
  rm -rf "$dir"
}

{
  echo "# user-space instructions per request (callgrind Ir, all threads), $CONNS keep-alive connections,"
  echo "# http_count --requests $N1 and $N2; per request = (Ir($N2) - Ir($N1)) / $((N2 - N1))"
  printf '%-12s %9s %16s %16s %14s %8s\n' server pipeline "Ir($N1)" "Ir($N2)" instr/request ratio
  for pipe in $PIPELINES; do
    base=
    for i in "${!NAMES[@]}"; do
      a=$(count "${NAMES[$i]}" "${CMDS[$i]}" "$N1" "$pipe")
      b=$(count "${NAMES[$i]}" "${CMDS[$i]}" "$N2" "$pipe")
      per=$(python3 -c "print(f'{($b - $a) / ($N2 - $N1):.0f}')")
      [[ -n $base ]] || base=$per
      ratio=$(python3 -c "print(f'{$per / $base:.2f}' if $base else 'n/a')")
      printf '%-12s %9s %16s %16s %14s %8s\n' "${NAMES[$i]}" "$pipe" "$a" "$b" "$per" "$ratio"
    done
  done
  echo "ratio: to weft (the first row of each pipeline depth); lower is cheaper"
} 2>&1 | tee "$OUT/hyper-count.txt"
echo "results in $OUT"
