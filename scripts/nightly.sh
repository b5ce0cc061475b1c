#!/usr/bin/env bash
# Installs the pinned nightly toolchain that Miri, ASan and TSan run on
# (scripts/nightly-version names it; a dated nightly, so CI results do not
# change under us), with the components they need: miri and rust-src (Miri's
# sysroot, and -Zbuild-std for TSan). Prints the toolchain's name on stdout
# as its last line. Fails, saying why, if it cannot be installed: the
# checks that need it must fail with it, never be skipped.
# usage: scripts/nightly.sh            (NIGHTLY=$(scripts/nightly.sh | tail -n1))
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "scripts/nightly.sh: FAILED: $*" >&2
  exit 1
}

nightly=$(tr -d '[:space:]' < scripts/nightly-version)
[[ $nightly =~ ^nightly-[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] \
  || fail "scripts/nightly-version must hold one dated nightly (nightly-YYYY-MM-DD), not '$nightly'"
command -v rustup > /dev/null || fail "rustup is not installed; it is needed to install $nightly"

components=(miri rust-src)
have_all() {
  local installed
  installed=$(rustup component list --toolchain "$nightly" --installed 2> /dev/null) || return 1
  for c in "${components[@]}"; do
    grep -q "^$c" <<< "$installed" || return 1
  done
}

# Installed already (a warm machine): no download, so no network needed.
if ! have_all; then
  echo "installing $nightly with ${components[*]}" >&2
  # A nightly whose miri failed to build ships without it: rustup says so.
  # --no-self-update: installing a toolchain must not replace rustup itself.
  rustup toolchain install --no-self-update "$nightly" --profile minimal --component "$(IFS=,; echo "${components[*]}")" >&2 \
    || fail "could not install $nightly with ${components[*]} (no network to the Rust distribution server, or that nightly lacks a component); pick another date in scripts/nightly-version"
  have_all || fail "$nightly installed, but without all of: ${components[*]}"
fi
rustc "+$nightly" -V >&2 || fail "$nightly is installed but its rustc does not run"
echo "$nightly"
