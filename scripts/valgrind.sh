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

run "$(test_binary runtime lib)" --test-threads=1
run "$(test_binary tests test echo)" --test-threads=1 one_byte sixty_four_kib
echo "== valgrind: no errors"
