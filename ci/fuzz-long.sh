#!/usr/bin/env bash
# Long fuzz campaign: runs every cargo-fuzz target side by side (one libFuzzer process per
# target, under ASan) until each process has used FUZZ_CPU_SECONDS of CPU time (default
# 3600: one CPU-hour per target), then prints executions, coverage and the corpus size.
#
# CPU time, not wall time, is the budget, so the figure means the same on a loaded machine.
# The corpus grows in FUZZ_WORK/<target>/corpus (default target/fuzz-long, outside the
# repository; seeded from fuzz/corpus), crashes go to FUZZ_WORK/<target>/artifacts/.
# Per-input timeout: 300 s (a large `config` input takes about 2.5 s alone and far longer
# when starved of CPU).
#
# Usage: bash ci/fuzz-long.sh [TARGET...]      (no argument: every target)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
budget="${FUZZ_CPU_SECONDS:-3600}"
work="${FUZZ_WORK:-$root/target/fuzz-long}"
target_dir="$root/target/fuzz"

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    bash ci/fuzz.sh # installs the toolchain and cargo-fuzz (and smoke-runs the targets)
fi
cd fuzz
cargo +nightly fuzz build -s address --target-dir "$target_dir"
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
bin_dir="$target_dir/$(rustc -vV | sed -n 's/^host: //p')/release"
tck=$(getconf CLK_TCK)

# Runs one target until its process has used `budget` CPU seconds (SIGINT ends libFuzzer
# cleanly, with its final statistics).
run() {
    local t=$1 d="$work/$1"
    mkdir -p "$d/corpus" "$d/artifacts"
    cp -n "corpus/$t"/* "$d/corpus/" 2>/dev/null || true
    "$bin_dir/$t" "$d/corpus" -artifact_prefix="$d/artifacts/" -timeout=300 \
        -print_final_stats=1 >"$d/log" 2>&1 &
    local pid=$! cpu=0
    while kill -0 "$pid" 2>/dev/null; do
        cpu=$(($(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0) / tck))
        if [ "$cpu" -ge "$budget" ]; then
            kill -INT "$pid"
            break
        fi
        sleep 10
    done
    local rc=0
    wait "$pid" || rc=$?
    echo "$cpu" >"$d/cpu"
    # Our SIGINT ends libFuzzer with a non-zero code: that is the budget, not a failure.
    if grep -q 'libFuzzer: run interrupted' "$d/log"; then
        rc=0
    fi
    return "$rc"
}

pids=()
for t in "${targets[@]}"; do
    echo "== fuzz $t until it has used $budget CPU seconds (log: $work/$t/log)"
    run "$t" &
    pids+=("$!")
done
failed=0
for i in "${!targets[@]}"; do
    t=${targets[$i]}
    d="$work/$t"
    # A crash, leak or timeout exits non-zero and leaves an artifact.
    if ! wait "${pids[$i]}" || ls "$d/artifacts" | grep -q .; then
        tail -n 40 "$d/log"
        echo "!!! fuzz target $t FAILED: see $d/artifacts/" >&2
        failed=1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$d/log")
    last=$(grep -oE '^#[0-9]+[[:space:]]+[A-Z]+[[:space:]]+cov: [0-9]+ ft: [0-9]+ corp: [^ ]+' "$d/log" | tail -n 1)
    echo "== $t: ${runs:-?} executions in $(cat "$d/cpu") CPU s; last status: $last"
done
exit "$failed"
