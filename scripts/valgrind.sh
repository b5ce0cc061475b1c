#!/usr/bin/env bash
# Runs the runtime's unit tests and a short echo integration test under
# valgrind (memcheck); any memory error fails the run (exit 1).
# usage: scripts/valgrind.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# test_binary PACKAGE KIND NAME: the path of a built test executable.
test_binary() {
  cargo test -p "$1" "--$2" ${3:+"$3"} --no-run --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["executable"])'
}

run() {
  echo "== valgrind $*"
  valgrind -q --error-exitcode=1 --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite "$@"
}

# Skipped: under valgrind this io_uring test's accept times out every time
# (its client thread's connect does not get through while the loop waits in
# io_uring_enter; valgrind serialises threads and, it seems, does not let
# them run during that call). It passes natively, under ASan and in both
# CI test stages; the single-threaded io_uring tests run here.
run "$(test_binary runtime lib)" --test-threads=1 --skip driver::uring::tests::accept_through_poll
run "$(test_binary tests test echo)" --test-threads=1 one_byte sixty_four_kib
echo "== valgrind: no errors"
