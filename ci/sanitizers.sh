#!/usr/bin/env bash
# Sanitizers (nightly only; skipped with a loud message if nightly cannot be installed):
#
#  asan: AddressSanitizer + LeakSanitizer on every unit and integration test of tailcast
#        (use-after-free, double free, overflow, leaks: F3, F4, F11 of RELIABILITY.md).
#        The prebuilt std is used (no -Zbuild-std): ASan intercepts malloc/free, and the
#        generic std code our tests use is instrumented where it is monomorphized.
#  tsan: ThreadSanitizer with std rebuilt under it (-Zbuild-std, needed so that std's own
#        atomics and locks are seen), TAILCAST_TSAN_RUNS (5) consecutive runs of the
#        multi-threaded tests: tests/threads.rs, async.rs and seeds.rs.
#        TSan does not model standalone fences. crossbeam-epoch/utils detect TSan
#        (CARGO_CFG_SANITIZE) and replace theirs by acquire loads; tailcast's own SeqCst
#        fences (sync::full_fence) are the store-load barriers of its park/wake handshakes,
#        which publish no data (events are handed over by release stores and acquire
#        loads), so a missed fence edge cannot make TSan report a slot access. No
#        suppressions are needed; if one ever is, add a narrow `race:` line to a
#        suppressions file and pass it here through TSAN_OPTIONS.
#
# Both builds use opt-level 1 (CARGO_PROFILE_DEV_OPT_LEVEL=1, debug assertions and
# overflow checks stay on), as Clang's sanitizer docs advise: TSan at opt-level 0, std
# included, made the runs 3x slower.
#
# Doctests are not run (`--lib --tests`): rustdoc would need the sanitizer in RUSTDOCFLAGS
# too ("mixing -Zsanitizer will cause an ABI mismatch").
#
# Usage: bash ci/sanitizers.sh [asan|tsan|all]        (default: all)
# Environment:
#   CARGO_TARGET_DIR        root of the target dirs (default: target); builds go to
#                           $CARGO_TARGET_DIR/h-san-asan and $CARGO_TARGET_DIR/h-san-tsan
#   TAILCAST_STRESS_EVENTS  events per stress test (default here: 20000; the debug default
#                           of 2 * 10^5 costs minutes under the sanitizers)
#   TAILCAST_PROPTEST_CASES model_props cases under ASan (default here: 2000 of 10,000)
#   TAILCAST_TSAN_RUNS      consecutive TSan runs (default: 5)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=ci/nightly.sh
source ci/nightly.sh

what="${1:-all}"
case "$what" in
    asan | tsan | all) ;;
    *)
        echo "usage: bash ci/sanitizers.sh [asan|tsan|all]" >&2
        exit 2
        ;;
esac

require_nightly ci/sanitizers.sh rust-src || exit 0

host="$(rustc +nightly -vV | sed -n 's/^host: //p')"
case "$host" in
    x86_64-unknown-linux-gnu | aarch64-unknown-linux-gnu) ;;
    *)
        echo "!!! ci/sanitizers.sh: no ASan/TSan runtime for host $host: SANITIZERS SKIPPED !!!" >&2
        exit 0
        ;;
esac

root="${CARGO_TARGET_DIR:-target}"
events="${TAILCAST_STRESS_EVENTS:-20000}"
cases="${TAILCAST_PROPTEST_CASES:-2000}"
runs="${TAILCAST_TSAN_RUNS:-5}"
export CARGO_PROFILE_DEV_OPT_LEVEL="${CARGO_PROFILE_DEV_OPT_LEVEL:-1}"
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
start=$SECONDS
summary=()

if [ "$what" != tsan ]; then
    t0=$SECONDS
    echo "== ASan: CARGO_PROFILE_DEV_OPT_LEVEL=$CARGO_PROFILE_DEV_OPT_LEVEL RUSTFLAGS=\"-Zsanitizer=address\"" \
        "TAILCAST_STRESS_EVENTS=$events" \
        "TAILCAST_PROPTEST_CASES=$cases"
    echo "   cargo +nightly test --target $host -p tailcast --lib --tests"
    # detect_leaks is the default on Linux; spelled out because the leak check matters.
    ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
        RUSTFLAGS="-Zsanitizer=address" CARGO_TARGET_DIR="$root/h-san-asan" \
        TAILCAST_STRESS_EVENTS="$events" TAILCAST_PROPTEST_CASES="$cases" \
        cargo +nightly test --target "$host" -p tailcast --lib --tests 2>&1 |
        tee "$logs/asan.log"
    summary+=("ASan: $(test_totals "$logs/asan.log"), $((SECONDS - t0)) s (build included)")
fi

if [ "$what" != asan ]; then
    t0=$SECONDS
    # stress.rs is left to ASan and miri: under TSan it costs more than the other three together.
    tsan_tests=(--test threads --test async --test seeds)
    export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1${TSAN_OPTIONS:+ $TSAN_OPTIONS}"
    tsan() {
        RUSTFLAGS="-Zsanitizer=thread" CARGO_TARGET_DIR="$root/h-san-tsan" \
            TAILCAST_STRESS_EVENTS="$events" \
            cargo +nightly test -Zbuild-std --target "$host" -p tailcast "${tsan_tests[@]}" "$@"
    }
    echo "== TSan: CARGO_PROFILE_DEV_OPT_LEVEL=$CARGO_PROFILE_DEV_OPT_LEVEL RUSTFLAGS=\"-Zsanitizer=thread\"" \
        "TSAN_OPTIONS=\"$TSAN_OPTIONS\""
    echo "   TAILCAST_STRESS_EVENTS=$events cargo +nightly test -Zbuild-std --target $host" \
        "-p tailcast ${tsan_tests[*]}"
    tsan --no-run
    build=$((SECONDS - t0))
    for run in $(seq 1 "$runs"); do
        r0=$SECONDS
        echo "== TSan run $run of $runs"
        tsan 2>&1 | tee "$logs/tsan-$run.log"
        echo "   run $run: $(test_totals "$logs/tsan-$run.log"), $((SECONDS - r0)) s"
        cat "$logs/tsan-$run.log" >>"$logs/tsan.log"
    done
    summary+=("TSan: $runs runs clean, $(test_totals "$logs/tsan.log"), build $build s, runs $((SECONDS - t0 - build)) s")
fi

echo
echo "== ci/sanitizers.sh $what passed in $((SECONDS - start)) s"
printf '   %s\n' "${summary[@]}"
