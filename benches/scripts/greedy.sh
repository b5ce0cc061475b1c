#!/usr/bin/env bash
# greedy.sh: issue 12's starvation scenario against several echo servers in
# one run: two greedy connections (64 KiB blocks written in a loop, echo
# drained on another thread) and a ping connection (1 byte every 2 ms, round
# trip timed), client benches/src/bin/greedy.rs. Ping p50/p99/max and the
# greedy connections' echoed MB/s per server, medians over rounds with
# min..max, and ratios to the first server.
#
# usage: benches/scripts/greedy.sh [--secs 10] [--rounds 3] [--warmup 1] [--greedy 2] [--block 65536]
#                                  [NAME='SERVER CMD with {addr}' ...]
# Default servers: weft (target/release/async_echo), tokio current_thread and
# raw epoll (the kit's ref_tokio_echo, ref_epoll_echo). Like the kit's
# compare scripts (whose lib.sh this sources): {addr} -> 127.0.0.1:FREEPORT,
# {bin} -> the kit's target/release; servers in turn per round, server on
# core SERVER_CPU (1), client on CLIENT_CPU (0). The kit is found at
# BENCH_KIT, else ../shared/bench or ../../shared/bench from the repository.
# CLIENT_CPU / SERVER_CPU may be lists for taskset (CLIENT_CPU=0-1 SERVER_CPU=0-1:
# unpinned; the core columns then read n/a). QUIET_WAIT (s, default 60): before
# each run, wait up to this long for every core to be under QUIET_PCT % busy
# (default 15), so that other work on a shared machine does not skew a run; the
# table shows how busy the busiest core was. A run whose client missed more than
# DISTURBED_PCT % (default 2) of its ping ticks (its core was taken) is run again,
# RETRIES times at most (default 2), then kept and counted as disturbed.
# NICE (default 0): run server and client at this nice value (negative needs
# root), each in a session of its own whose autogroup gets the same nice value
# (with kernel.sched_autogroup_enabled=1 the scheduler shares a core between
# sessions first, so a process's nice value alone does not help), so that
# other processes on a shared machine barely disturb the runs; the header says
# so. It takes CPU from those processes while it runs.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
for k in "${BENCH_KIT:-}" "$ROOT/../shared/bench" "$ROOT/../../shared/bench"; do
  [[ -n $k && -f $k/lib.sh ]] && { KITDIR=$(cd "$k" && pwd); break; }
done
[[ -n ${KITDIR:-} ]] || { echo "greedy.sh: the bench kit was not found; set BENCH_KIT" >&2; exit 2; }
. "$KITDIR/lib.sh"

SECS=10 ROUNDS=3 WARMUP=1 GREEDY=2 BLOCK=65536
while [[ $# -gt 0 && $1 == --* ]]; do
  case $1 in
    --secs) SECS=$2 ;;
    --rounds) ROUNDS=$2 ;;
    --warmup) WARMUP=$2 ;;
    --greedy) GREEDY=$2 ;;
    --block) BLOCK=$2 ;;
    *) sed -n '9,10s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
  esac
  [[ $# -ge 2 ]] || die "$1 needs a value"
  shift 2
done
[[ $SECS =~ ^[0-9]+$ && $WARMUP =~ ^[0-9]+$ && $ROUNDS =~ ^[0-9]+$ ]] || die "--secs, --warmup, --rounds: whole numbers"
if [[ $# -eq 0 ]]; then
  cargo build --release -q --manifest-path "$ROOT/Cargo.toml" -p examples --bin async_echo || die "cargo build failed"
  set -- weft="$ROOT/target/release/async_echo --quiet --addr {addr}" \
    tokio_ct='{bin}/ref_tokio_echo --flavor current_thread --addr {addr}' \
    epoll='{bin}/ref_epoll_echo --addr {addr}'
fi
parse_servers "$@"
MAX_LIFE=$((WARMUP + SECS + 60))
build_kit
cargo build --release -q --manifest-path "$ROOT/Cargo.toml" -p benches --bin greedy || die "cargo build failed"
GREEDY_BIN=$ROOT/target/release/greedy

# quiet_wait: until every core is under QUIET_PCT % busy over 0.5 s (QUIET_WAIT s at most);
# sets PRE to the busiest core's % at the last look.
quiet_wait() {
  local t0=$SECONDS c b
  while :; do
    core_snap >"$TMP/q0"
    sleep 0.5
    core_snap >"$TMP/q1"
    PRE=0
    for c in $(awk '{ print substr($1, 4) }' "$TMP/q0"); do
      b=$(core_busy "$TMP/q0" "$TMP/q1" "$c")
      ((b > PRE)) && PRE=$b
    done
    ((PRE < ${QUIET_PCT:-15} || SECONDS - t0 >= ${QUIET_WAIT:-60})) && return
  done
}

# measure NAME CMD: one run; prints its line, sets ROW (the fields to record) and MISSED;
# status 1 if the server did not start or the client gave no result.
measure() {
  local name=$1 cli srv json fields pings p50 p99 max mbs tmo errors
  # start_server's server starts in the background, with its log truncated only
  # once it has forked: empty the previous server's log now, or its `listening
  # on` line could be taken for the new server's.
  : >"$TMP/server.log"
  start_server "$name" "$2" "${NICE_CMD[@]}" || return 1
  core_snap >"$TMP/s0"
  run_client "${CLIENT_SESSION[@]}" "${NICE_CMD[@]}" taskset -c "$CLIENT_CPU" timeout $((WARMUP + SECS + 30)) "$GREEDY_BIN" --addr "$ADDR" \
    --secs "$SECS" --warmup "$WARMUP" --greedy "$GREEDY" --block "$BLOCK"
  core_snap >"$TMP/s1"
  stop_server
  cli=$(core_busy "$TMP/s0" "$TMP/s1" "$CLIENT_CPU")
  srv=$(core_busy "$TMP/s0" "$TMP/s1" "$SERVER_CPU")
  cli=${cli:--1} srv=${srv:--1} # -1: a list of cores, no single figure
  json=$(grep -m1 '^{' "$TMP/client.out")
  if [[ -z $json ]]; then
    echo "round $r $name: the greedy client gave no result:" >&2
    tail -n 5 "$TMP/client.out" >&2
    return 1
  fi
  grep -v '^{' "$TMP/client.out" | grep -v '^ping every' >&2 # the client's complaints, if any
  fields=$(python3 -c '
import json, sys
j = json.loads(sys.argv[1])
print("\t".join(str(j[k]) for k in
      ("pings", "p50_us", "p99_us", "max_us", "greedy_mb_per_s", "timeouts", "missed_ticks", "errors")))' "$json") ||
    return 1
  IFS=$'\t' read -r pings p50 p99 max mbs tmo MISSED errors <<<"$fields"
  printf 'round %d %-12s pings %5d  rtt p50 %11.1f  p99 %11.1f  max %11.1f us  timeouts %3d  missed %4d' \
    "$r" "$name" "$pings" "$p50" "$p99" "$max" "$tmo" "$MISSED"
  printf '  greedy %8.1f MB/s  cores cli %4s srv %4s (before %s%%)  errors %s\n' \
    "$mbs" "$( ((cli < 0)) && echo n/a || echo "$cli%")" "$( ((srv < 0)) && echo n/a || echo "$srv%")" "$PRE" "$errors"
  ROW=("$pings" "$p50" "$p99" "$max" "$mbs" "$tmo" "$MISSED" "$cli" "$srv" "$PRE" "$errors")
}

# A run is disturbed when the client missed more than DISTURBED_PCT % of its 2 ms ticks:
# something else took its core, and the ping's figures are the machine's, not the server's.
TICKS=$((SECS * 500))
NICE_CMD=() CLIENT_SESSION=()
if [[ ${NICE:-0} != 0 ]]; then
  # shellcheck disable=SC2016 # expanded by the inner bash
  NICE_CMD=(bash -c 'echo "$0" >/proc/self/autogroup 2>/dev/null; exec nice -n "$0" "$@"' "$NICE")
  CLIENT_SESSION=(setsid -w)
fi
echo "# greedy: $GREEDY greedy conns x $BLOCK B blocks + 1 ping conn (1 B every 2 ms), ${SECS}s measured" \
  "after ${WARMUP}s warm-up, $ROUNDS rounds; client on cpu$CLIENT_CPU, server on cpu$SERVER_CPU${NICE_CMD[*]:+, both at nice $NICE (process and autogroup)}"
for ((r = 1; r <= ROUNDS; r++)); do
  for i in "${!NAMES[@]}"; do
    name=${NAMES[$i]}
    for ((try = 0; ; try++)); do
      quiet_wait
      if ! measure "$name" "${CMDS[$i]}"; then
        record "$name" "$r" FAIL
        break
      fi
      disturbed=$((MISSED * 100 > TICKS * ${DISTURBED_PCT:-2}))
      if ((disturbed && try < ${RETRIES:-2})); then
        echo "round $r $name: disturbed (the client missed $MISSED of $TICKS ticks), once more" >&2
        continue
      fi
      record "$name" "$r" "${ROW[@]}" "$disturbed"
      break
    done
  done
done

python3 - "$RES" "${NAMES[@]}" <<'EOF'
import sys, statistics as st
path, names = sys.argv[1], sys.argv[2:]
rows = [l.rstrip("\n").split("\t") for l in open(path)]
cols = ["pings", "p50", "p99", "max", "mbs", "tmo", "missed", "cli", "srv", "pre", "errors", "disturbed"]
def stats(ok, k):
    v = [float(r[2 + cols.index(k)]) for r in ok]
    return st.median(v), min(v), max(v)
def pct(v):
    return "n/a" if v < 0 else f"{v:.0f}%"
def us(m, lo, hi):
    return f"{m:,.0f} [{lo:,.0f}..{hi:,.0f}]"
print(f"\n{'server':<12}{'ping p50 us':>32}{'ping p99 us':>34}{'ping max us':>34}{'greedy MB/s':>24}"
      f"{'pings':>7}{'timeouts':>9}{'missed':>7}{'cli':>6}{'srv':>6}{'before':>7}{'errors':>7}{'disturbed':>10}  runs")
med, bad = {}, False
for n in names:
    mine = [r for r in rows if r[0] == n]
    ok = [r for r in mine if r[2] != "FAIL"]
    runs = f"{len(ok)}/{len(mine)}"
    bad |= len(ok) < len(mine)
    if not ok:
        print(f"{n:<12}{'failed':>32}  runs {runs}")
        continue
    s = {k: stats(ok, k) for k in cols}
    med[n] = {k: s[k][0] for k in cols}
    errs = sum(int(r[2 + cols.index("errors")]) for r in ok)
    tmo = sum(int(r[2 + cols.index("tmo")]) for r in ok)
    dist = sum(int(r[2 + cols.index("disturbed")]) for r in ok)
    bad |= errs > 0
    mb = f"{s['mbs'][0]:,.1f} [{s['mbs'][1]:,.0f}..{s['mbs'][2]:,.0f}]"
    print(f"{n:<12}{us(*s['p50']):>32}{us(*s['p99']):>34}{us(*s['max']):>34}{mb:>24}"
          f"{s['pings'][0]:>7.0f}{tmo:>9}{s['missed'][0]:>7.0f}{pct(s['cli'][0]):>6}{pct(s['srv'][0]):>6}"
          f"{s['pre'][2]:>6.0f}%{errs:>7}{dist:>10}  {runs}")
if names[0] in med:
    b = med[names[0]]
    r = lambda x, y: f"{x / y:.3f}" if y else "n/a"
    print(f"\n{'server':<12}{'p50 ratio':>11}{'p99 ratio':>11}{'max ratio':>11}{'MB/s ratio':>12}   (to {names[0]})")
    for n in names:
        if n in med:
            m = med[n]
            print(f"{n:<12}{r(m['p50'], b['p50']):>11}{r(m['p99'], b['p99']):>11}{r(m['max'], b['max']):>11}"
                  f"{r(m['mbs'], b['mbs']):>12}")
print("medians over rounds [min..max]; ping: round trip of the 1-byte pings sent in the measured window "
      "(open loop, 2 ms apart); timeouts: pings answered after 1 s or never (sum over rounds); missed: "
      "2 ms ticks the client was too late to send (median); greedy MB/s: echoed bytes of all greedy "
      "connections; cli/srv: % busy of the client's and the server's core during the run (median); "
      "before: the busiest core's % just before a run (max over rounds: other load on the machine); "
      "disturbed: runs kept although the client missed more than DISTURBED_PCT % of its ticks "
      "(each was tried RETRIES more times); "
      "ratios: median / the first server's median")
sys.exit(1 if bad else 0)
EOF
