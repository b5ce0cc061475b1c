#!/usr/bin/env bash
# uring.sh: the io_uring backend against the epoll backend, the raw-epoll
# loop and tokio, in one run, with the neutral kit (../shared/bench, or
# BENCH_KIT); output in OUT (default benches/results/uring):
#   count-echo        syscalls and user-space instructions per message
#   count-echo-sqpoll the same with SQPOLL (WEFT_IO_URING_SQPOLL=idle ms)
#   echo-c64-rate50k  server cost per message at a capped 50k msgs/s (the kit's
#                     core-busy figure), with completion coalescing as well
#   cost-c64-rate50k  the same cost from the server's own CPU time (cost-echo.sh)
#   echo-c64/c1000    full-load msgs/s and p99
#   http-c64/-p16     wrk plaintext, plain and pipelined 16
# then draws uring.svg from the medians (plot_uring.py).
# About 30 minutes; run it on a quiet machine. usage: uring.sh [OUT] [ROUNDS]
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KIT=${BENCH_KIT:-$ROOT/../shared/bench}
OUT=${1:-$ROOT/benches/results/uring}
ROUNDS=${2:-3}
mkdir -p "$OUT"
# The servers choose their backend from WEFT_BACKEND: none may leak in.
unset WEFT_BACKEND WEFT_IO_URING_SQPOLL WEFT_IO_URING_COALESCE
cargo build --release -q --manifest-path "$ROOT/Cargo.toml" -p examples --bin async_echo --bin http_server
E=$ROOT/target/release
# `env` execs the server, so the kit's counters and signals reach it.
# The raw-epoll loop first: the kit's ratios are to the first server.
ECHO=(epoll='{bin}/ref_epoll_echo --addr {addr}'
  weftu="env WEFT_BACKEND=io_uring $E/async_echo --quiet --addr {addr}"
  weft="$E/async_echo --quiet --addr {addr}"
  tokio='{bin}/ref_tokio_echo --addr {addr}')
# Completion coalescing (Builder::io_uring_coalesce): n completions or a window.
COALESCE=(weftu_c16="env WEFT_BACKEND=io_uring WEFT_IO_URING_COALESCE=16,50 $E/async_echo --quiet --addr {addr}"
  weftu_c32="env WEFT_BACKEND=io_uring WEFT_IO_URING_COALESCE=32,100 $E/async_echo --quiet --addr {addr}")
SQPOLL=(weftu="env WEFT_BACKEND=io_uring $E/async_echo --quiet --addr {addr}"
  weftu_sqpoll="env WEFT_BACKEND=io_uring WEFT_IO_URING_SQPOLL=1000 $E/async_echo --quiet --addr {addr}")
HTTP=(epoll='{bin}/ref_epoll_http --addr {addr}'
  weftu="env WEFT_BACKEND=io_uring $E/http_server --addr {addr}"
  weft="$E/http_server --addr {addr}"
  tokio='{bin}/ref_tokio_http --addr {addr}')
run() { local f=$OUT/$1.txt; shift; echo "== $f"; "$@" 2>&1 | tee "$f"; }
{ uname -a; nproc; grep -m1 'model name' /proc/cpuinfo; date -u; git -C "$ROOT" rev-parse HEAD; } >"$OUT/machine.txt"
run count-echo "$KIT/count-echo.sh" --conns 64 "${ECHO[@]}"
run count-echo-sqpoll "$KIT/count-echo.sh" --conns 64 --modes strace "${SQPOLL[@]}"
run echo-c64-rate50k "$KIT/compare-echo.sh" --conns 64 --size 64 --secs 5 --rounds "$ROUNDS" --rate 50000 "${ECHO[@]}" "${COALESCE[@]}"
run cost-c64-rate50k env BENCH_KIT="$KIT" "$ROOT/benches/scripts/cost-echo.sh" --rate 50000 --total 250000 --rounds "$ROUNDS" "${ECHO[@]}" "${COALESCE[@]}"
run echo-c64-rate50k-sqpoll "$KIT/compare-echo.sh" --conns 64 --size 64 --secs 5 --rounds "$ROUNDS" --rate 50000 "${SQPOLL[@]}"
run echo-c64 "$KIT/compare-echo.sh" --conns 64 --size 64 --secs 5 --rounds "$ROUNDS" "${ECHO[@]}"
run echo-c1000 "$KIT/compare-echo.sh" --conns 1000 --size 64 --secs 5 --rounds "$ROUNDS" "${ECHO[@]}"
run http-c64 "$KIT/compare-http.sh" --conns 64 --secs 5 --rounds "$ROUNDS" --pipeline 1 "${HTTP[@]}"
run http-c64-p16 "$KIT/compare-http.sh" --conns 64 --secs 5 --rounds "$ROUNDS" --pipeline 16 "${HTTP[@]}"
python3 "$ROOT/benches/scripts/plot_uring.py" "$OUT" "$OUT/uring.svg"
echo "results in $OUT"
