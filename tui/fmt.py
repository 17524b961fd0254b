"""Short, fixed-width renderings of numbers for the cockpit: durations, sizes, rates, ages.

Every function takes ``None`` (a value the trainer has not reported yet) and returns "–",
so a pane never shows "None" and never raises on a missing field.
"""

from __future__ import annotations

import math

DASH = "–"


def duration(seconds: float | None) -> str:
    """1h02m, 3m05s, 42s: the two most significant units."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return DASH
    s = int(round(seconds))
    if s >= 86400:
        return f"{s // 86400}d{s % 86400 // 3600:02d}h"
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def size(n_bytes: float | None) -> str:
    """Bytes as 512B, 3.4K, 87M, 1.2G (binary units, as du -h)."""
    if n_bytes is None:
        return DASH
    n = float(n_bytes)
    for unit in ("B", "K", "M", "G", "T"):
        if abs(n) < 1024 or unit == "T":
            return f"{n:.0f}{unit}" if unit == "B" or n >= 100 else f"{n:.1f}{unit}"
        n /= 1024
    return DASH  # unreachable


def number(value: float | None, digits: int = 4) -> str:
    """A float in at most ``digits`` significant digits; tiny and huge ones in e-notation."""
    if value is None:
        return DASH
    v = float(value)
    if not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e6):
        return f"{v:.{max(digits - 2, 1)}e}"
    return f"{v:.{digits}g}"


def rate(value: float | None) -> str:
    """Throughput: 12.3, 1.2k, 45k."""
    if value is None:
        return DASH
    v = float(value)
    if v >= 10_000:
        return f"{v / 1000:.0f}k"
    if v >= 1000:
        return f"{v / 1000:.1f}k"
    return f"{v:.1f}"


def steps(n: float) -> str:
    """Step counts on an axis: 950, 12k, 100k, 1.2M."""
    n = int(n)
    if n >= 1_000_000:
        return f"{n / 1e6:.1f}M"
    if n >= 10_000:
        return f"{n // 1000}k"
    return str(n)


def percent(value: float | None) -> str:
    return DASH if value is None else f"{float(value):.0f}%"


def params(n: int | None) -> str:
    """A parameter count in a few characters: 950, 2.1k, 0.30M, 22.7M, 1.3B."""
    if n is None:
        return DASH
    if n >= 1e9:
        return f"{n / 1e9:.1f}B"
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    if n >= 1e5:
        return f"{n / 1e6:.2f}M"
    if n >= 1e3:
        return f"{n / 1e3:.1f}k"
    return str(n)


def share(part: int | None, whole: int | None) -> str:
    """A percentage with the digits a small share needs: 100%, 12%, 1.3%, 0.21%."""
    if part is None or whole is None:
        return DASH
    pct = 100 * part / whole if whole else 0.0
    if pct >= 10 or pct == 0:
        return f"{pct:.0f}%"
    return f"{pct:.1f}%" if pct >= 0.1 else f"{pct:.2f}%"
