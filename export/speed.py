"""The speed gate: a variant slower than fp32 on this machine is never the bundle's default.

It steers the default and fails nothing: accuracy gates fail the command, speed only decides which
valid file `predict.py` opens. "Slower" means a median latency more than SLOWER_BY above fp32's at
batch 1 or at batch 32, both measured in the same round-robin run; the margin is above the
run-to-run noise of medians on a quiet machine (a few percent) so a tie does not flip the default.
"""

from __future__ import annotations

SLOWER_BY = 0.05  # 5% over fp32's median
# Without a benchmark, or among the variants the gate lets through, the first passing one of these
# is the default (smallest first), if within NEAR_FASTEST of the fastest at batch 1.
PREFERENCE = ("int8", "O2", "O1", "fp32")
NEAR_FASTEST = 1.10


def medians(rows: list[dict]) -> dict[tuple[str, int], float]:
    return {(r["runtime"], r["batch"]): r["median_ms"] for r in rows}


def slower_than_fp32(rows: list[dict], names: list[str], slower_by: float = SLOWER_BY) -> dict[str, dict]:
    """{variant: {"batch": b, "vs_fp32": ratio}} for each variant whose median is more than ``slower_by``
    above fp32's at some batch size (the worst batch is named). Empty without fp32 rows."""
    m = medians(rows)
    batches = sorted({b for (runtime, b) in m if runtime == "fp32"})
    out = {}
    for name in names:
        if name == "fp32":
            continue
        ratios = {b: m[(name, b)] / m[("fp32", b)] for b in batches if (name, b) in m and m[("fp32", b)] > 0}
        worst = max(ratios, key=ratios.get, default=None)
        if worst is not None and ratios[worst] > 1 + slower_by:
            out[name] = {"batch": worst, "vs_fp32": round(ratios[worst], 3),
                         "at_batches": {str(b): round(r, 3) for b, r in ratios.items()}}
    return out


def choose_default(passing: list[str], rows: list[dict]) -> tuple[str | None, dict[str, dict]]:
    """(the default variant's name or None, the variants kept off default for speed). Among the passing
    variants that are not slower than fp32: the first in PREFERENCE within NEAR_FASTEST of the fastest
    at batch 1 (all of them when there is no benchmark)."""
    ranked = [n for n in PREFERENCE if n in passing]
    slow = slower_than_fp32(rows, ranked)
    ranked = [n for n in ranked if n not in slow]
    m = medians(rows)
    if ranked and all((n, 1) in m for n in ranked):
        fastest = min(m[(n, 1)] for n in ranked)
        ranked = [n for n in ranked if m[(n, 1)] <= NEAR_FASTEST * fastest]
    return (ranked[0] if ranked else None), slow


def describe_slow(slow: dict[str, dict]) -> list[str]:
    """One line per variant kept off default, for report.txt and the bundle README."""
    return [f"{name} is not the default: {100 * (s['vs_fp32'] - 1):.0f}% slower than fp32 at batch {s['batch']} "
            f"(median; the gate allows {100 * SLOWER_BY:.0f}%)" for name, s in slow.items()]
