#!/usr/bin/env python3
"""Turns criterion's output of the `fanout` and `fanout_async` benches into the README's
tables and a chart (SVG). Standard library only.

    cargo bench -p tailcast-benches --bench fanout
    cargo bench -p tailcast-benches --bench fanout_async
    python3 benches/report.py [--criterion target/criterion] [--svg benches/fanout.svg]

For every system and subscriber count N it reads criterion's median time per iteration
(`new/estimates.json`) and the events per iteration (`new/benchmark.json`), and prints:
published events per second (millions), ns per event per subscriber, and the ratio to the
fastest peer at that N (a peer is any system that is not tailcast and not the `limit`
line). The chart plots events per second against N for every system, log scale.
"""

import argparse
import json
import math
import os
import sys

GROUPS = ("fanout", "fanout_async")


def load(root, group):
    """{system: {n: (median_ns_per_iter, events_per_iter)}} for one criterion group."""
    out = {}
    base = os.path.join(root, group)
    if not os.path.isdir(base):
        return out
    for dirpath, _dirs, files in os.walk(base):
        if os.path.basename(dirpath) != "new" or "benchmark.json" not in files:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            bench = json.load(f)
        with open(os.path.join(dirpath, "estimates.json")) as f:
            est = json.load(f)
        system = bench.get("function_id")
        n = bench.get("value_str")
        thr = bench.get("throughput") or {}
        events = thr.get("Elements")
        if system is None or n is None or events is None:
            continue
        out.setdefault(system, {})[int(n)] = (est["median"]["point_estimate"], events)
    return out


def is_peer(system):
    return not system.startswith("tailcast") and not system.startswith("limit")


def table(group, data):
    ns = sorted({n for per in data.values() for n in per})
    rate = {
        s: {n: per[n][1] / per[n][0] * 1e9 for n in per} for s, per in data.items()
    }
    best_peer = {
        n: max((rate[s][n] for s in rate if is_peer(s) and n in rate[s]), default=None)
        for n in ns
    }
    lines = [f"**{group}**: millions of published events per second "
             "(ns per event per subscriber; ratio to the fastest peer)", ""]
    lines.append("| system | " + " | ".join(f"N={n}" for n in ns) + " |")
    lines.append("|---|" + "---|" * len(ns))
    order = sorted(rate, key=lambda s: (not s.startswith("tailcast"), s.startswith("limit"), s))
    for s in order:
        cells = []
        for n in ns:
            if n not in rate[s]:
                cells.append("-")
                continue
            r = rate[s][n]
            per_sub = 1e9 / r / n
            cell = f"{r / 1e6:.1f} ({per_sub:.1f} ns"
            if best_peer[n]:
                cell += f"; {r / best_peer[n]:.2f}x"
            cells.append(cell + ")")
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    return "\n".join(lines), rate


COLORS = ["#d62728", "#ff7f0e", "#e377c2", "#1f77b4", "#2ca02c", "#9467bd",
          "#8c564b", "#17becf", "#bcbd22", "#7f7f7f", "#000000", "#aec7e8"]


def svg(charts, path):
    """One panel per group: events/s (log) against N."""
    w, h, pad_l, pad_r, pad_t, pad_b = 560, 360, 70, 230, 40, 50
    total_h = h * len(charts)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w + pad_r}" '
             f'height="{total_h}" font-family="sans-serif" font-size="12">',
             f'<rect width="{w + pad_r}" height="{total_h}" fill="white"/>']
    for i, (group, rate) in enumerate(charts):
        y0 = i * h
        ns = sorted({n for per in rate.values() for n in per})
        vals = [v for per in rate.values() for v in per.values() if v > 0]
        if not ns or not vals:
            continue
        lo = 10 ** math.floor(math.log10(min(vals)))
        hi = 10 ** math.ceil(math.log10(max(vals)))
        pw, ph = w - pad_l - 10, h - pad_t - pad_b

        def x(n):
            k = ns.index(n)
            return pad_l + (pw * k / max(1, len(ns) - 1))

        def y(v):
            return y0 + pad_t + ph * (1 - (math.log10(v) - math.log10(lo))
                                      / (math.log10(hi) - math.log10(lo)))

        parts.append(f'<text x="{pad_l}" y="{y0 + 20}" font-size="14" font-weight="bold">'
                     f'{group}: published events/s against subscriber count</text>')
        parts.append(f'<rect x="{pad_l}" y="{y0 + pad_t}" width="{pw}" height="{ph}" '
                     'fill="none" stroke="#999"/>')
        decade = lo
        while decade <= hi * 1.0001:
            for m in (1, 2, 5):
                v = decade * m
                if lo <= v <= hi:
                    parts.append(f'<line x1="{pad_l}" x2="{pad_l + pw}" y1="{y(v):.1f}" '
                                 f'y2="{y(v):.1f}" stroke="#eee"/>')
                    label = f"{v / 1e6:g}M"
                    parts.append(f'<text x="{pad_l - 6}" y="{y(v) + 4:.1f}" '
                                 f'text-anchor="end">{label}</text>')
            decade *= 10
        for n in ns:
            parts.append(f'<text x="{x(n):.1f}" y="{y0 + pad_t + ph + 18}" '
                         f'text-anchor="middle">N={n}</text>')
        order = sorted(rate, key=lambda s: (not s.startswith("tailcast"), s))
        for k, s in enumerate(order):
            color = COLORS[k % len(COLORS)]
            dash = "" if s.startswith("tailcast") else ' stroke-dasharray="5,3"'
            pts = " ".join(f"{x(n):.1f},{y(rate[s][n]):.1f}" for n in ns if n in rate[s])
            parts.append(f'<polyline points="{pts}" fill="none" stroke="{color}" '
                         f'stroke-width="2"{dash}/>')
            for n in ns:
                if n in rate[s]:
                    parts.append(f'<circle cx="{x(n):.1f}" cy="{y(rate[s][n]):.1f}" r="3" '
                                 f'fill="{color}"/>')
            ly = y0 + pad_t + 16 * k
            parts.append(f'<line x1="{w + 5}" x2="{w + 30}" y1="{ly}" y2="{ly}" '
                         f'stroke="{color}" stroke-width="2"{dash}/>')
            parts.append(f'<text x="{w + 35}" y="{ly + 4}">{s}</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--criterion", default=os.path.join("target", "criterion"))
    ap.add_argument("--svg", default=os.path.join("benches", "fanout.svg"))
    args = ap.parse_args()
    charts = []
    for group in GROUPS:
        data = load(args.criterion, group)
        if not data:
            print(f"(no criterion data for {group} under {args.criterion})", file=sys.stderr)
            continue
        text, rate = table(group, data)
        print(text)
        print()
        charts.append((group, rate))
    if not charts:
        sys.exit(1)
    svg(charts, args.svg)
    print(f"chart written to {args.svg}")


if __name__ == "__main__":
    main()
