# Sourced by the nightly-only CI scripts (ci/sanitizers.sh, ci/panic-abort.sh,
# ci/miri-seeds.sh); not run on its own.
#
# require_nightly NAME [COMPONENT...]: installs the nightly toolchain (minimal profile) and
# the components if they are missing. Returns 1, after a loud message on stderr, if that is
# impossible; the caller then exits 0 (a skipped job, not a failure), as ci/miri.sh does.
require_nightly() {
    local name="$1"
    shift
    if ! rustup toolchain list | grep -q '^nightly'; then
        echo "== $name: installing the nightly toolchain (minimal profile)"
        if ! rustup toolchain install nightly --profile minimal; then
            echo "!!! $name: no nightly toolchain and it cannot be installed: $name SKIPPED !!!" >&2
            return 1
        fi
    fi
    if [ "$#" -gt 0 ] && ! rustup component add --toolchain nightly "$@" >/dev/null; then
        echo "!!! $name: cannot add nightly components ($*): $name SKIPPED !!!" >&2
        return 1
    fi
    rustc +nightly --version
}

# Sums the "test result:" lines of cargo test output in file $1:
# prints "<passed> passed, <failed> failed, <ignored> ignored in <binaries> test binaries".
test_totals() {
    awk '/^test result:/ { p += $4; f += $6; i += $8; n++ }
         END { printf "%d passed, %d failed, %d ignored in %d test binaries\n", p, f, i, n }' "$1"
}
