"""What the compare screen's overlaid chart costs beside the cockpit's single-run chart, in one
invocation: 3 runs of 10^5 train-loss points each (one overlay) vs one run of 10^5 (the cockpit),
at the chart size of an 80x24 terminal (38x14 cells per overlay, 50x12 for the cockpit).

    python benchmarks/compare_chart.py [--runs 3] [--points 100000] [--repeats 20]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time

import numpy as np


def history(seed: int, points: int):
    from ftui.tui.chart import LossHistory

    h = LossHistory()
    for s in range(1, points + 1):
        h.add_step(s, 0.7 * math.exp(-s / (points / 3)) + 0.05 + (s * (7919 + seed) % 1000) / 10_000)
    return h


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--points", type=int, default=100_000)
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    from importlib.metadata import version

    from ftui.tui.chart import render_chart
    from ftui.tui.overlay_chart import render_overlay

    print(f"python {platform.python_version()}, numpy {np.__version__}, rich {version('rich')},"
          f" textual {version('textual')}, cpus {os.cpu_count()}, threads 1 (pure numpy + Python)")
    print(f"{args.runs} runs x {args.points} points; {args.repeats} repeats, medians")
    runs = [history(i, args.points) for i in range(args.runs)]
    series = [(i, *h.smooth.arrays()) for i, h in enumerate(runs)]
    single = median_ms(lambda: render_chart(runs[0], 50, 12), args.repeats)
    overlay = median_ms(lambda: render_overlay("train loss", series, 38, 14), args.repeats)
    print(f"cockpit chart, 1 run, 50x12 cells:         {single:6.1f} ms")
    print(f"compare overlay, {args.runs} runs, 38x14 cells:     {overlay:6.1f} ms")
    print(f"ratio overlay / single:                    {overlay / single:6.2f}x")


if __name__ == "__main__":
    main()
