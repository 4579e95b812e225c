#!/usr/bin/env bash
# The small two-thread races of tests/seeds.rs under miri on 16 scheduler seeds
# (-Zmiri-many-seeds=0..16): the same MIRIFLAGS as ci/miri.sh (Tree Borrows, permissive
# provenance, leak check on, weak-memory emulation and weak-CAS failures left on), each
# seed a different thread schedule, store-buffer choice and allocation placement.
# Nightly only: skipped with a loud message if it cannot be installed.
#
# Usage: bash ci/miri-seeds.sh [SEEDS]        (default SEEDS: 0..16)
# Environment: CARGO_TARGET_DIR, root of the target dirs (default: target); the build is
# ci/miri.sh's, $CARGO_TARGET_DIR/miri-build (MIRIFLAGS do not change it). MIRIFLAGS replaces the base flags, as in ci/miri.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=ci/nightly.sh
source ci/nightly.sh

seeds="${1:-0..16}"
require_nightly ci/miri-seeds.sh miri rust-src || exit 0
cargo +nightly miri --version
cargo +nightly miri setup >/dev/null 2>&1 || cargo +nightly miri setup

base="${MIRIFLAGS:--Zmiri-tree-borrows -Zmiri-permissive-provenance -Zmiri-symbolic-alignment-check -Zmiri-disable-isolation}"
export MIRIFLAGS="$base -Zmiri-many-seeds=$seeds"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/miri-build"
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
start=$SECONDS

echo "== MIRIFLAGS=\"$MIRIFLAGS\""
echo "   cargo +nightly miri test -p tailcast --test seeds"
cargo +nightly miri test -p tailcast --test seeds 2>&1 | tee "$logs/seeds.log"

# Miri runs the seeds in parallel and their outputs interleave (a "Trying seed" line may
# start mid-line): count the distinct seeds tried and the tests of the file instead of
# parsing the "test result" lines.
tried=$( (grep -o 'Trying seed: [0-9]*' "$logs/seeds.log" || true) | sort -u | wc -l)
tests=$(grep -c '^#\[test\]' tests/seeds.rs)
echo
echo "== ci/miri-seeds.sh passed in $((SECONDS - start)) s: $tests tests x $tried seeds" \
    "($seeds) = $((tests * tried)) runs, all passed"
