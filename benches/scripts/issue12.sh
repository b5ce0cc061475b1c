#!/usr/bin/env bash
# issue12.sh: the measurements of issue 12 (fairness under a greedy peer) in
# one run, raw output in OUT (default benches/results/issue12):
#   greedy.txt          scripts/greedy.sh: ping p50/p99/max and greedy MB/s for
#                       weft (async_echo), tokio current_thread and raw epoll,
#                       client on core 0, server on core 1; also tokio with a
#                       64 KiB buffer (tokio_ct_64k), the size async_echo and
#                       the epoll loop read with (the kit's default is 4 KiB;
#                       tokio's budget counts operations, not bytes)
#   greedy-unpinned.txt weft, tokio_ct and epoll with client and server free to use both cores
#                       (UNPINNED=0 skips it)
#   sleep-precision.txt src/bin/sleep_precision.rs: lateness of sequential
#                       200 us and 1 ms sleeps, weft vs tokio current_thread
#   machine.txt         kernel, cores, CPU, load, commit
# On a shared machine, NICE=-20 (root; results/issue12/before used it) keeps other processes from disturbing
# the runs (see greedy.sh); it also runs sleep_precision at that nice value.
# About 5 minutes at 3 rounds of 10 s (plus waits for a quiet machine, see
# greedy.sh's QUIET_WAIT). usage: benches/scripts/issue12.sh [OUT] [ROUNDS] [SECS]
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$ROOT/benches/results/issue12}
ROUNDS=${2:-3}
SECS=${3:-10}
mkdir -p "$OUT"
cargo build --release -q --manifest-path "$ROOT/Cargo.toml" -p examples --bin async_echo \
  -p benches --bin greedy --bin sleep_precision || exit 2
run() { local f=$OUT/$1.txt; shift; echo "== $f"; "$@" 2>&1 | tee "$f"; }
{
  uname -a; nproc; grep -m1 'model name' /proc/cpuinfo; date -u; echo "load before: $(cat /proc/loadavg)"
  echo "NICE=${NICE:-0}"
  echo "commit $(git -C "$ROOT" rev-parse HEAD)$(git -C "$ROOT" diff --quiet HEAD -- || echo ' (with uncommitted changes)')"
} >"$OUT/machine.txt"
status=0
run greedy "$ROOT/benches/scripts/greedy.sh" --secs "$SECS" --rounds "$ROUNDS" \
  weft="$ROOT/target/release/async_echo --quiet --addr {addr}" \
  tokio_ct='{bin}/ref_tokio_echo --flavor current_thread --addr {addr}' \
  epoll='{bin}/ref_epoll_echo --addr {addr}' \
  tokio_ct_64k='{bin}/ref_tokio_echo --flavor current_thread --buf 65536 --addr {addr}' || status=1
if [[ ${UNPINNED:-1} != 0 ]]; then
  CLIENT_CPU=0-1 SERVER_CPU=0-1 run greedy-unpinned "$ROOT/benches/scripts/greedy.sh" --secs "$SECS" \
    --rounds "$ROUNDS" || status=1
fi
# The sleeper alone on the server core, like a server.
NICE_CMD=()
if [[ ${NICE:-0} != 0 ]]; then # as greedy.sh does: a session of its own, autogroup niced too
  # shellcheck disable=SC2016 # expanded by the inner bash
  NICE_CMD=(setsid -w bash -c 'echo "$0" >/proc/self/autogroup 2>/dev/null; exec nice -n "$0" "$@"' "$NICE")
fi
run sleep-precision "${NICE_CMD[@]}" taskset -c "${SERVER_CPU:-1}" "$ROOT/target/release/sleep_precision" || status=1
echo "load after: $(cat /proc/loadavg)" >>"$OUT/machine.txt"
echo "results in $OUT"
exit $status
