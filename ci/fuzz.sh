#!/usr/bin/env bash
# cargo-fuzz smoke run: builds every target of fuzz/ and runs each for FUZZ_SECONDS
# (default 60) from the committed seed corpus, printing the executions.
# New corpus entries go to a scratch directory, so fuzz/corpus stays small; a crash is
# written to fuzz/artifacts/<target>/ and replayed with `cargo +nightly fuzz run <target> <file>`.
# Env: FUZZ_SECONDS, FUZZ_TARGET_DIR (default target/fuzz), FUZZ_SANITIZER (default address).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds="${FUZZ_SECONDS:-60}"
target_dir="${FUZZ_TARGET_DIR:-$root/target/fuzz}"
sanitizer="${FUZZ_SANITIZER:-address}"

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "== ci/fuzz.sh: installing the nightly toolchain (minimal profile)"
    rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "== ci/fuzz.sh: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
cargo +nightly fuzz --version

cd fuzz
echo "== cargo +nightly fuzz build (sanitizer: $sanitizer)"
cargo +nightly fuzz build -s "$sanitizer" --target-dir "$target_dir"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# The targets run side by side (each libFuzzer process uses one core).
targets=$(cargo +nightly fuzz list)
pids=()
for t in $targets; do
    echo "== fuzz $t for ${seconds} s"
    mkdir -p "$scratch/$t" "corpus/$t"
    cargo +nightly fuzz run -s "$sanitizer" --target-dir "$target_dir" "$t" \
        "$scratch/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -print_final_stats=1 -timeout=30 >"$scratch/$t.log" 2>&1 &
    pids+=("$!")
done
failed=0
i=0
for t in $targets; do
    log="$scratch/$t.log"
    if ! wait "${pids[$i]}"; then
        tail -n 60 "$log"
        echo "!!! fuzz target $t FAILED: see fuzz/artifacts/$t/" >&2
        failed=1
    else
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
        echo "fuzz $t: ${runs:-?} executions in ${seconds} s (${rate:-?} exec/s, ${cov:-cov: ?}), no failure"
    fi
    i=$((i + 1))
done
exit "$failed"
