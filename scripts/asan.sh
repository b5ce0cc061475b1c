#!/usr/bin/env bash
# Runs the test suite under AddressSanitizer (with LeakSanitizer, its
# default on Linux) on the pinned nightly: the unit and integration tests of
# runtime, net, examples and tests, including the tests that start the
# example binaries (tests/src/support.rs builds those with the same
# RUSTFLAGS, --target and target directory, so they are instrumented too).
# Any report fails the run.
#
# Not covered: doctests (rustdoc would need RUSTDOCFLAGS and a -Zbuild-std
# sysroot for --target; they are short API examples that the plain
# `cargo test` runs), and the benches package (it only compares with tokio
# and would add tokio and criterion to the instrumented build).
# usage: scripts/asan.sh [CARGO TEST ARGS...]   (e.g. scripts/asan.sh --test echo)
set -euo pipefail
cd "$(dirname "$0")/.."

NIGHTLY=$(scripts/nightly.sh | tail -n1)
host=$(rustc "+$NIGHTLY" -vV | sed -n 's/^host: //p')

# --target: RUSTFLAGS then apply to the target only, not to build scripts
# and proc macros (which must not be instrumented). The target directory is
# absolute, because the example binaries are built by a cargo started from
# the workspace root by the tests themselves.
export CARGO_TARGET_DIR="$PWD/target/asan"
export RUSTFLAGS="-Zsanitizer=address"
# abort_on_error: a report kills the process (the test fails even where a
# child's exit status is not checked); detect_leaks=1 is LSan, on by default
# and stated here so that it stays on. No suppressions.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1"

# Tests skipped here, one reason each (all measure resources, not memory safety):
SKIP=(
  # They assert that the server's resident memory stays within 32 MiB of
  # its start while a client floods it; ASan's quarantine (freed memory is
  # held back to catch use after free) and shadow memory grow RSS by more.
  # They measure memory growth, not memory safety; the plain run keeps them.
  delay_server_drops_a_client_that_never_reads
  http_server_drops_a_client_that_never_reads
  # Asserts that the idle busy_poll_echo child uses at least half a core:
  # a scheduling measurement, not memory safety, and it failed here once
  # (cpu 0.81 s of 2.14 s) with the 2 shared cores busy. The plain run keeps it.
  busy_poll_echo_serves_everyone_and_spins_a_core
)
skip_args=()
for t in "${SKIP[@]}"; do
  skip_args+=(--skip "$t")
done

cargo "+$NIGHTLY" test --no-fail-fast --target "$host" -p runtime -p net -p examples -p tests --tests "$@" \
  -- "${skip_args[@]}"
echo "== asan: no reports"
