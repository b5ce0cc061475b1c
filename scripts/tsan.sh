#!/usr/bin/env bash
# Runs the runtime's concurrency tests under ThreadSanitizer on the pinned
# nightly: the runtime's lib unit tests, runtime/tests/miri_tasks.rs (wakes,
# aborts and channels across threads), and the integration tests wake,
# channels, blocking, tasks, echo (an in-process server; the harness runs
# its tests, each with its own runtime, on several threads) and
# echo_bins (blocking client threads against the echo binaries,
# itself built with TSan by tests/src/support.rs), and workers (a runtime
# with several worker threads: cross-worker spawns, wakes, JoinHandles and
# an echo server spread over the workers) and sync_primitives (Notify,
# Semaphore, Mutex, RwLock, broadcast, watch across threads). Any report
# fails the run.
#
# TSan needs std instrumented too (-Zbuild-std, from the rust-src component
# that scripts/nightly.sh installs). It is asked for through cargo's
# environment rather than the command line so that the cargo the tests
# start for the example binaries builds them the same way.
# usage: scripts/tsan.sh [TEST ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."

NIGHTLY=$(scripts/nightly.sh | tail -n1)
host=$(rustc "+$NIGHTLY" -vV | sed -n 's/^host: //p')

export CARGO_TARGET_DIR="$PWD/target/tsan"
export RUSTFLAGS="-Zsanitizer=thread"
export CARGO_UNSTABLE_BUILD_STD="std,panic_unwind"
# halt_on_error: the first report fails the process, so it cannot be lost
# in the output of a test that passes. No suppressions.
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"

cargo "+$NIGHTLY" test --target "$host" -p runtime --lib --test miri_tasks "$@"
cargo "+$NIGHTLY" test --target "$host" -p tests \
  --test wake --test channels --test blocking --test tasks --test echo --test echo_bins --test workers --test sync_primitives "$@"
echo "== tsan: no reports"
