#!/usr/bin/env python3
"""Where the time of the `fanout` bench goes, per system: CPU time, context switches,
futex and sched_yield calls per published event, from `perf stat` (software events and
syscall tracepoints only, so it works in a VM without hardware counters).

Each system runs alone in its own process (`FANOUT_PROFILE=<system>/<N>`, see
`benches/fanout.rs`), `--iters` times 10^5 events, and the script prints a markdown table.

    cargo bench -p tailcast-benches --bench fanout --no-run
    python3 benches/profile.py                       # the default systems, N = 1, 2, 4
    python3 benches/profile.py --n 2 --systems tailcast/recv disruptor/yield

Needs `perf` with access to the `syscalls:` tracepoints (root, or
`perf_event_paranoid` <= 1 and a readable tracefs).
"""

import argparse
import glob
import os
import re
import subprocess
import sys

EVENTS_PER_ITER = 100_000
DEFAULT_SYSTEMS = [
    "tailcast/recv",
    "tailcast/recv_batch",
    "bus/recv",
    "crossbeam-channel/per-subscriber",
    "disruptor/yield",
]
COUNTERS = [
    "task-clock",
    "context-switches",
    "syscalls:sys_enter_futex",
    "syscalls:sys_enter_sched_yield",
]


def bench_binary():
    """The newest fanout bench executable under target/release/deps."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    paths = [
        p
        for p in glob.glob(os.path.join(target, "release", "deps", "fanout-*"))
        if os.access(p, os.X_OK) and not p.endswith(".d")
    ]
    if not paths:
        sys.exit("no fanout bench binary: run `cargo bench -p tailcast-benches --bench fanout --no-run`")
    return max(paths, key=os.path.getmtime)


def measure(binary, system, n, iters):
    """One process running `system` with `n` readers: (events/s, {counter: value})."""
    env = dict(os.environ, FANOUT_PROFILE=f"{system}/{n}", FANOUT_PROFILE_ITERS=str(iters))
    cmd = ["perf", "stat", "-x", ",", "-e", ",".join(COUNTERS), binary]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    m = re.search(r"([0-9.]+) M events/s", out.stdout)
    if not m:
        sys.exit(f"unexpected output from {system}/{n}:\n{out.stdout}\n{out.stderr}")
    counts = {}
    for line in out.stderr.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2] in COUNTERS:
            try:
                counts[fields[2]] = float(fields[0])
            except ValueError:
                counts[fields[2]] = float("nan")  # "<not counted>"
    return float(m.group(1)) * 1e6, counts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--systems", nargs="+", default=DEFAULT_SYSTEMS)
    ap.add_argument("--n", nargs="+", type=int, default=[1, 2, 4])
    ap.add_argument("--iters", type=int, default=50, help="runs of 10^5 events per process")
    args = ap.parse_args()
    binary = bench_binary()
    events = args.iters * EVENTS_PER_ITER
    print(f"binary: {binary}; {events:,} events per process; per published event:\n")
    print("| system | N | M events/s | CPU ns | context switches / 1k | futex calls / 1k | sched_yield calls / 1k |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for n in args.n:
        for system in args.systems:
            rate, c = measure(binary, system, n, args.iters)
            cpu_ns = c.get("task-clock", float("nan")) * 1e6 / events  # task-clock is in ms
            per_k = lambda k: c.get(k, float("nan")) * 1000 / events
            print(
                f"| {system} | {n} | {rate / 1e6:.1f} | {cpu_ns:.1f} | "
                f"{per_k('context-switches'):.2f} | {per_k('syscalls:sys_enter_futex'):.2f} | "
                f"{per_k('syscalls:sys_enter_sched_yield'):.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
