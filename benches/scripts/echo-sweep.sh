#!/usr/bin/env bash
# echo-sweep.sh: async_echo, tokio current_thread and the raw-epoll floor at
# 1, 64, 256 and 1000 connections with the neutral kit's compare-echo.sh,
# one file per connection count in OUT (default benches/results/sweep), then
# the plot (plot_sweep.py -> OUT/echo-sweep.svg).
# usage: benches/scripts/echo-sweep.sh [OUT] [ROUNDS]   (about 4 minutes at 3 rounds)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KIT=${BENCH_KIT:-$ROOT/../shared/bench}
OUT=${1:-$ROOT/benches/results/sweep}
ROUNDS=${2:-3}
mkdir -p "$OUT"
cargo build --release -q -p examples --bin async_echo --manifest-path "$ROOT/Cargo.toml"
WEFT="$ROOT/target/release/async_echo --quiet --addr {addr}"
for conns in 1 64 256 1000; do
  echo "== $conns connections"
  "$KIT/compare-echo.sh" --conns "$conns" --size 64 --secs 5 --rounds "$ROUNDS" \
    weft="$WEFT" \
    tokio_ct='{bin}/ref_tokio_echo --flavor current_thread --addr {addr}' \
    epoll='{bin}/ref_epoll_echo --addr {addr}' | tee "$OUT/echo-c$conns.txt"
done
python3 "$ROOT/benches/scripts/plot_sweep.py" "$OUT" "$OUT/echo-sweep.svg"
echo "plot: $OUT/echo-sweep.svg"
