#!/usr/bin/env bash
# issue5.sh: every measurement of the performance report in one run, with the
# neutral kit in ../shared/bench, output in OUT (default benches/results/run):
#   echo-c64-rate50k  server cost per message at a capped 50k msgs/s
#   count-echo        syscalls and user-space instructions per message
#   echo-c64/c1000    full-load msgs/s and p99
#   http-c64/-p16     wrk plaintext, plain and pipelined 16
#   idle-10k          RSS with 10,000 idle connections
#   runtime / http_fanout   the cargo benches (micro-benchmarks, 10k requests)
#   sweep/            1, 64, 256, 1000 connections for the plot
# About 20 minutes; run it on a quiet machine. usage: issue5.sh [OUT] [ROUNDS]
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KIT=${BENCH_KIT:-$ROOT/../shared/bench}
OUT=${1:-$ROOT/benches/results/run}
ROUNDS=${2:-5}
mkdir -p "$OUT"
cargo build --release -q --manifest-path "$ROOT/Cargo.toml" -p examples --bin async_echo --bin http_server
E=$ROOT/target/release
ECHO=(weft="$E/async_echo --quiet --addr {addr}"
  tokio_ct='{bin}/ref_tokio_echo --flavor current_thread --addr {addr}'
  epoll='{bin}/ref_epoll_echo --addr {addr}')
HTTP=(weft="$E/http_server --addr {addr}"
  tokio_ct='{bin}/ref_tokio_http --flavor current_thread --addr {addr}'
  epoll='{bin}/ref_epoll_http --addr {addr}')
run() { local f=$OUT/$1.txt; shift; echo "== $f"; "$@" 2>&1 | tee "$f"; }
{ uname -a; nproc; grep -m1 'model name' /proc/cpuinfo; date -u; git -C "$ROOT" rev-parse HEAD; } >"$OUT/machine.txt"
run echo-c64-rate50k "$KIT/compare-echo.sh" --conns 64 --size 64 --secs 5 --rounds "$ROUNDS" --rate 50000 "${ECHO[@]}"
run count-echo "$KIT/count-echo.sh" --conns 64 "${ECHO[@]}"
run echo-c64 "$KIT/compare-echo.sh" --conns 64 --size 64 --secs 5 --rounds "$ROUNDS" "${ECHO[@]}"
run echo-c1000 "$KIT/compare-echo.sh" --conns 1000 --size 64 --secs 5 --rounds "$ROUNDS" "${ECHO[@]}"
run http-c64 "$KIT/compare-http.sh" --conns 64 --secs 5 --rounds "$ROUNDS" "${HTTP[@]}"
run http-c64-p16 "$KIT/compare-http.sh" --conns 64 --secs 5 --rounds "$ROUNDS" --pipeline 16 "${HTTP[@]}"
run idle-10k "$KIT/idle-rss.sh" --conns 10000 --secs 5 "${ECHO[@]}"
run bench-runtime cargo bench -q --manifest-path "$ROOT/Cargo.toml" -p benches --bench runtime
run bench-http-fanout cargo bench -q --manifest-path "$ROOT/Cargo.toml" -p benches --bench http_fanout
"$ROOT/benches/scripts/echo-sweep.sh" "$OUT/sweep" 3
echo "results in $OUT"
