#!/usr/bin/env bash
# Runs every loom model in loom-tests/tests/, one model per process (a failing model can
# abort its whole test binary: loom panics again while unwinding), and prints a table of
# executions and seconds per model.
#
# Usage: bash loom-tests/run.sh [NAME_SUBSTRING...]     (no argument: every model)
#
# Environment:
#   LOOM_MAX_PREEMPTIONS   force one preemption bound for every model. Unset (the default),
#                          each model uses 2 with two threads and 1 with three or more
#                          (see `loom_tests::model`).
#   TAILCAST_LOOM_EXTRA    add this to each model's default bound (extended run: 1).
#   TAILCAST_LOOM_EXTENDED set to 1 to also run the extended models (#[ignore]d: deeper
#                          preemption bounds, minutes each).
#   LOOM_MODEL_TIMEOUT     seconds allowed per model before it counts as failed (600; give
#                          the extended run more, e.g. 3600).
#   LOOM_MAX_DURATION      seconds after which loom stops exploring a model *without*
#                          failing it (loom's own variable). Such a model is reported as
#                          `capped` (its executions passed, the search was not exhaustive),
#                          not `ok`. ci/test.sh sets 75 (about ten models exceed it on a
#                          busy machine, 2026-12-07); unset it for an exhaustive run.
#   LOOM_TARGET_DIR        cargo target dir for the loom build (target/loom).
#   LOOM_FEATURES          cargo features of loom-tests to build with (none by default);
#                          `tokio` adds the async models (tests/tee_async.rs,
#                          tests/bytes_end_async.rs: tailcast's `tokio` feature).
# Any other LOOM_* variable (LOOM_LOG, LOOM_LOCATION, LOOM_CHECKPOINT_FILE, ...) reaches loom.
set -euo pipefail
cd "$(dirname "$0")/.."

export RUSTFLAGS="--cfg loom --cfg crossbeam_loom"
export CARGO_TARGET_DIR="${LOOM_TARGET_DIR:-target/loom}"
timeout_s="${LOOM_MODEL_TIMEOUT:-600}"
start=$SECONDS

echo "== building loom models (RUSTFLAGS=\"$RUSTFLAGS\", target $CARGO_TARGET_DIR${LOOM_FEATURES:+, features $LOOM_FEATURES})"
features=()
[ -z "${LOOM_FEATURES:-}" ] || features=(--features "$LOOM_FEATURES")
json=$(cargo test -p loom-tests --release --tests --no-run --message-format=json "${features[@]}")
mapfile -t bins < <(printf '%s\n' "$json" \
    | grep '"kind":\["test"\]' \
    | grep -o '"executable":"[^"]*"' \
    | sed 's/"executable":"\(.*\)"/\1/' \
    | sort)
if [ "${#bins[@]}" -eq 0 ]; then
    echo "no loom test binaries found" >&2
    exit 1
fi

matches() {
    [ "$#" -eq 1 ] && return 0
    local name=$1
    shift
    for f in "$@"; do
        case "$name" in *"$f"*) return 0 ;; esac
    done
    return 1
}

failed=()
capped=()
summary=()
ran=0
total_exec=0
total_cpu=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
logdir="$CARGO_TARGET_DIR/loom-logs"
mkdir -p "$logdir"
for bin in "${bins[@]}"; do
    file=$(basename "$bin" | sed 's/-[0-9a-f]*$//')
    mapfile -t tests < <("$bin" --list --format=terse 2>/dev/null | sed -n 's/: test$//p')
    ignored=" $("$bin" --list --format=terse --ignored 2>/dev/null | sed -n 's/: test$//p' | tr '\n' ' ')"
    for t in "${tests[@]}"; do
        matches "$t" "$@" || continue
        extra=()
        case "$ignored" in
        *" $t "*)
            # An extended model (#[ignore]): only with TAILCAST_LOOM_EXTENDED=1.
            if [ "${TAILCAST_LOOM_EXTENDED:-0}" != 1 ]; then
                summary+=("$(printf '%-7s %-22s %-36s %s' skipped "$file" "$t" \
                    '(extended: TAILCAST_LOOM_EXTENDED=1)')")
                continue
            fi
            extra=(--include-ignored)
            ;;
        esac
        echo "== $file::$t"
        ran=$((ran + 1))
        t0=$SECONDS
        if timeout "$timeout_s" "$bin" --exact "$t" "${extra[@]}" --nocapture --test-threads=1 \
            >"$log" 2>&1; then
            status=ok
        else
            status=FAILED
            failed+=("$file::$t")
        fi
        line=$(grep -m1 '^MODEL \|MODEL ' "$log" | sed 's/.*MODEL /MODEL /' || true)
        outcomes=$(grep -m1 '^  outcomes: ' "$log" | sed 's/^  //' || true)
        case "$status:$line" in
        ok:*" capped="*)
            status=capped
            capped+=("$file::$t")
            ;;
        esac
        if [ "$status" != FAILED ]; then
            echo "   $line"
            [ -z "$outcomes" ] || echo "   $outcomes"
            exe=$(printf '%s' "$line" | sed -n 's/.*executions=\([0-9]*\).*/\1/p')
            total_exec=$((total_exec + ${exe:-0}))
            cpu=$(printf '%s' "$line" | sed -n 's/.* cpu=\([0-9.]*\).*/\1/p')
            total_cpu=$(awk -v a="$total_cpu" -v b="${cpu:-0}" 'BEGIN { printf "%.1f", a + b }')
        else
            # The failure: the first panics with their messages (loom's report: deadlock,
            # causality violation, leak, ...), then the end of the output.
            grep -m3 -A3 'panicked at' "$log" | grep -v '^stack backtrace' | sed 's/^/   /' || true
            tail -n 4 "$log" | sed 's/^/   | /'
            cp "$log" "$logdir/$file.$t.log"
            echo "   full output: $logdir/$file.$t.log"
        fi
        summary+=("$(printf '%-7s %-22s %-36s %s (wall %ss)' "$status" "$file" "$t" \
            "$(printf '%s' "$line" | sed 's/^MODEL [^ ]* //')" "$((SECONDS - t0))")")
    done
done

echo
echo "== loom summary"
printf '%s\n' "${summary[@]}"
echo "models run: $ran, failed: ${#failed[@]}, capped: ${#capped[@]}, executions: $total_exec, model cpu: $total_cpu s, wall: $((SECONDS - start)) s"
if [ "${#capped[@]}" -gt 0 ]; then
    printf 'CAPPED (passed, not exhaustive: LOOM_MAX_DURATION): %s\n' "${capped[@]}"
fi
if [ "${#failed[@]}" -gt 0 ]; then
    printf 'FAILED: %s\n' "${failed[@]}"
    exit 1
fi
