#!/usr/bin/env bash
# The unit and integration tests built with `panic = "abort"` (F10 of RELIABILITY.md),
# as tokio's CI does: RUSTFLAGS="-C panic=abort -Zpanic-abort-tests" on nightly, so that
# libtest runs every test in its own process. Tests that need unwinding (catch_unwind, a
# panicking thread that is joined) are gated with #[cfg(panic = "unwind")]; the script
# counts them. Nightly only: skipped with a loud message if it cannot be installed.
#
# `--target <host>` keeps the flags off build scripts and proc macros (tokio-macros).
#
# Usage: bash ci/panic-abort.sh
# Environment: CARGO_TARGET_DIR, root of the target dirs (default: target); the build goes
# to $CARGO_TARGET_DIR/h-san-abort. TAILCAST_STRESS_EVENTS (default here: 200000, the
# debug default).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=ci/nightly.sh
source ci/nightly.sh

require_nightly ci/panic-abort.sh || exit 0

host="$(rustc +nightly -vV | sed -n 's/^host: //p')"
flags="-C panic=abort -Zpanic-abort-tests"
export TAILCAST_STRESS_EVENTS="${TAILCAST_STRESS_EVENTS:-200000}"
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
start=$SECONDS

echo "== panic=abort: RUSTFLAGS=\"$flags\""
echo "   cargo +nightly test --target $host -p tailcast --lib --tests"
RUSTFLAGS="$flags" CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/h-san-abort" \
    cargo +nightly test --target "$host" -p tailcast --lib --tests 2>&1 | tee "$logs/tests.log"
# Doctests are not rebuilt under abort here (each is its own crate: a minute of builds
# for examples that never unwind); `--doc` with the same flags runs them.

gated=$(grep -h -A3 -E '^\s*#\[cfg\(panic = "unwind"\)\]' tests/*.rs src/*.rs 2>/dev/null |
    grep -c -E '^\s*(pub )?fn ' || true)
echo
echo "== ci/panic-abort.sh passed in $((SECONDS - start)) s"
echo "   unit + integration: $(test_totals "$logs/tests.log")"
echo "   gated off (#[cfg(panic = \"unwind\")] test fns): $gated"
