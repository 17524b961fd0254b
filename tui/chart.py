"""The loss chart, drawn with Unicode braille: train loss raw and smoothed, eval loss, eval metric.

Pure functions over numpy arrays and a Rich ``Text`` out, no Textual: the widget in
``loss_chart.py`` calls ``render_chart`` with its size, and the benchmark times the same call.

Each character cell holds a 2x4 braille dot grid, so a 40x8 plot shows 80x32 points. Long
histories are decimated to one min/max span per pixel column (so a spike still shows) before
anything touches Python loops: a 10^5-point history costs a few numpy passes, not 10^5 objects.
"""

from __future__ import annotations

import math
from array import array

import numpy as np
from rich.text import Text

from . import fmt

SMOOTHING = 0.9  # TensorBoard-style EMA weight, debiased so the first points are not dragged to 0

# Layers from back to front; a cell takes the colour of the front-most layer that has a dot in it.
STYLES = {"raw": "grey50", "smooth": "bold cyan", "eval": "bold yellow", "metric": "bold green"}
METRIC_SHORT = {"accuracy": "acc", "f1_macro": "f1"}
# Commands marked on the chart at the step the trainer acknowledged them (a row under the plot).
MARKS = {"set_lr": "L", "pause": "P", "save": "S", "stop": "X"}
MARK_KEY = "L lr P pause S save X stop"
# braille dot bit for (row within cell 0..3, column within cell 0..1)
_DOT_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.uint8)


class Series:
    """A growing (x, y) series in typed arrays: appending is cheap and viewing copies nothing."""

    def __init__(self) -> None:
        self._x = array("d")
        self._y = array("d")

    def append(self, x: float, y: float) -> None:
        self._x.append(x)
        self._y.append(y)

    def __len__(self) -> int:
        return len(self._x)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._x:
            return np.empty(0), np.empty(0)
        return np.frombuffer(self._x, dtype=float), np.frombuffer(self._y, dtype=float)

    def last(self) -> float | None:
        return self._y[-1] if self._y else None


class LossHistory:
    """Everything the chart draws, built from step and eval events as they arrive."""

    def __init__(self, metric: str = "accuracy") -> None:
        self.metric = metric
        self.raw, self.smooth = Series(), Series()
        self.eval_loss, self.eval_metric = Series(), Series()
        self.marks: list[tuple[int, str]] = []   # (step, command) of each acknowledged command
        self._ema = 0.0
        self._n = 0
        self.version = 0  # bumped on every change, so a widget can cache its last drawing

    def add_step(self, step: int, loss: float | None) -> None:
        if loss is None or not math.isfinite(loss):
            return
        self._n += 1
        self._ema = SMOOTHING * self._ema + (1 - SMOOTHING) * loss
        self.raw.append(step, loss)
        self.smooth.append(step, self._ema / (1 - SMOOTHING ** self._n))
        self.version += 1

    def add_eval(self, step: int, metrics: dict) -> None:
        loss, value = metrics.get("loss"), metrics.get(self.metric)
        if isinstance(loss, (int, float)) and math.isfinite(loss):
            self.eval_loss.append(step, loss)
        if isinstance(value, (int, float)) and math.isfinite(value):
            self.eval_metric.append(step, value)
        self.version += 1

    def add_ack(self, ack: dict) -> None:
        """Marks a command the trainer carried out (an ``ack`` event with ok) at its step."""
        if ack.get("ok") and ack.get("cmd") in MARKS:
            self.marks.append((int(ack.get("step") or 0), ack["cmd"]))
            self.version += 1

    def __len__(self) -> int:
        return len(self.raw) + len(self.eval_loss)


def column_spans(x, y, x0: float, x1: float, n_cols: int):
    """Decimates points to pixel columns: (cols, lo, hi) where each used column spans its
    min..max and reaches back to the previous column's last value, so the line is unbroken."""
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) == 0:
        return np.empty(0, int), np.empty(0), np.empty(0)
    scale = (n_cols - 1) / (x1 - x0) if x1 > x0 else 0.0
    col = np.clip(((x - x0) * scale).round().astype(np.int64), 0, n_cols - 1)
    lo = np.full(n_cols, np.inf)
    hi = np.full(n_cols, -np.inf)
    last = np.full(n_cols, np.nan)
    np.minimum.at(lo, col, y)
    np.maximum.at(hi, col, y)
    last[col] = y  # with repeated indices the last assignment wins: the column's final point
    used = np.flatnonzero(np.isfinite(lo))
    if len(used) > 1 and used[-1] - used[0] + 1 > len(used):
        # sparse points: fill the columns between them by linear interpolation
        span = np.arange(used[0], used[-1] + 1)
        fill = np.interp(span, used, last[used])
        empty = ~np.isfinite(lo[span])
        lo[span[empty]] = hi[span[empty]] = last[span[empty]] = fill[empty]
        used = span
    lo, hi, last = lo[used], hi[used], last[used]
    if len(used) > 1:  # join each column to where the previous one ended
        prev = last[:-1]
        lo[1:] = np.minimum(lo[1:], prev)
        hi[1:] = np.maximum(hi[1:], prev)
    return used, lo, hi


def _plot_layer(x, y, x_range, y_range, width: int, height: int, points: bool = False) -> np.ndarray:
    """A braille bit grid (height x width cells) for one series."""
    px_w, px_h = width * 2, height * 4
    pixels = np.zeros((px_h, px_w), dtype=bool)
    cols, lo, hi = column_spans(x, y, *x_range, px_w)
    if len(cols):
        (y0, y1) = y_range
        to_row = (px_h - 1) / (y1 - y0) if y1 > y0 else 0.0
        top = np.clip(((y1 - hi) * to_row).round(), 0, px_h - 1).astype(int)
        bottom = np.clip(((y1 - lo) * to_row).round(), 0, px_h - 1).astype(int)
        for c, r0, r1 in zip(cols.tolist(), top.tolist(), bottom.tolist()):
            pixels[r0:r1 + 1, c] = True
        if points:  # a 2x2 marker at each real point, so a short eval series reads as dots
            pc = np.clip(((x - x_range[0]) * (px_w - 1) / max(x_range[1] - x_range[0], 1e-12)).round().astype(int), 0, px_w - 1)
            pr = np.clip(((y1 - y) * to_row).round(), 0, px_h - 1).astype(int)
            for dr in (0, 1):
                for dc in (0, 1):
                    pixels[np.clip(pr - dr, 0, px_h - 1), np.clip(pc + dc, 0, px_w - 1)] = True
    blocks = pixels.reshape(height, 4, width, 2)
    return (blocks * _DOT_BITS[None, :, None, :]).sum(axis=(1, 3)).astype(np.uint8)


def _range(*arrays, pad: float = 0.05, floor: float | None = None) -> tuple[float, float]:
    values = [a[np.isfinite(a)] for a in arrays if len(a)]
    values = [v for v in values if len(v)]
    if not values:
        return (0.0, 1.0)
    lo = min(float(v.min()) for v in values)
    hi = max(float(v.max()) for v in values)
    span = hi - lo or abs(hi) or 1.0
    lo, hi = lo - span * pad, hi + span * pad
    if floor is not None:
        lo = max(lo, floor)
    return lo, hi


def render_chart(history: LossHistory, width: int, height: int) -> Text:
    """The whole chart (legend, plot with loss axis left and metric axis right, step axis) in
    ``width`` x ``height`` cells. Falls back to a one-line note when there is nothing to draw."""
    left, right = 7, 5
    marked = bool(history.marks) and height >= 6  # the marks row costs a plot row: only when there are marks
    plot_w, plot_h = width - left - right, height - 2 - marked
    if plot_w < 8 or plot_h < 2:
        return Text("(too small for the chart)", style="dim")
    if len(history) == 0:
        return Text("waiting for the first logged step…", style="dim")
    rx, ry = history.raw.arrays()
    sx, sy = history.smooth.arrays()
    ex, ey = history.eval_loss.arrays()
    mx, my = history.eval_metric.arrays()
    x_range = (0.0, max([float(a.max()) for a in (rx, ex, mx) if len(a)] + [1.0]))
    loss_range = _range(ry, ey, floor=0.0 if len(ry) and ry.min() >= 0 else None)
    metric_range = (0.0, 1.0) if not len(my) or (my.min() >= 0 and my.max() <= 1) else _range(my)
    layers = [
        ("raw", _plot_layer(rx, ry, x_range, loss_range, plot_w, plot_h)),
        ("smooth", _plot_layer(sx, sy, x_range, loss_range, plot_w, plot_h)),
        ("metric", _plot_layer(mx, my, x_range, metric_range, plot_w, plot_h, points=True)),
        ("eval", _plot_layer(ex, ey, x_range, loss_range, plot_w, plot_h, points=True)),
    ]
    text = _legend(history, width)
    for row in range(plot_h):
        text.append("\n")
        text.append(_left_label(row, plot_h, loss_range, left), style="dim")
        _append_cells(text, layers, row)
        text.append(_right_label(row, plot_h, metric_range, right), style="green")
    if marked:
        text.append("\n")
        text.append(_marks_row(history.marks, x_range, left, plot_w))
    text.append("\n")
    text.append(_x_axis(x_range[1], left, plot_w), style="dim")
    return text


def _marks_row(marks, x_range, left: int, plot_w: int) -> Text:
    """A letter per command under its step (two at one column: "*"), and the key where it fits."""
    cells = [" "] * plot_w
    scale = (plot_w - 1) / (x_range[1] - x_range[0]) if x_range[1] > x_range[0] else 0.0
    for step, cmd in marks:
        col = min(max(int(round((step - x_range[0]) * scale)), 0), plot_w - 1)
        cells[col] = MARKS[cmd] if cells[col] in (" ", MARKS[cmd]) else "*"
    used = max((i for i, c in enumerate(cells) if c != " "), default=-1)
    key = MARK_KEY if len(MARK_KEY) < plot_w - used - 2 else ""
    row = Text("cmds".rjust(left - 1) + "┤", style="dim")
    row.append("".join(cells[: plot_w - len(key)]) if key else "".join(cells), style="bold magenta")
    return row.append(key, style="dim")


def _append_cells(text: Text, layers, row: int) -> None:
    """One plot row: braille characters, each coloured by its front-most layer; runs of one
    colour become one span, so a row costs a few appends rather than one per cell."""
    bits = np.zeros_like(layers[0][1][row])
    owner = np.full(bits.shape, -1)
    for i, (_, grid) in enumerate(layers):
        bits |= grid[row]
        owner[grid[row] > 0] = i
    chars = [chr(0x2800 + b) if b else " " for b in bits.tolist()]
    start = 0
    owners = owner.tolist()
    for i in range(1, len(chars) + 1):
        if i == len(chars) or owners[i] != owners[start]:
            style = STYLES[layers[owners[start]][0]] if owners[start] >= 0 else ""
            text.append("".join(chars[start:i]), style=style)
            start = i


def _legend(history: LossHistory, width: int) -> Text:
    """Latest values, coloured like their lines; entries that do not fit are left out."""
    parts = [
        ("train", STYLES["raw"], history.raw.last()),
        ("ema", STYLES["smooth"], history.smooth.last()),
        ("eval", STYLES["eval"], history.eval_loss.last()),
        (METRIC_SHORT.get(history.metric, history.metric[:8]), STYLES["metric"], history.eval_metric.last()),
    ]
    text = Text()
    for label, style, last in parts:
        chunk = f"━{label} {fmt.number(last, 3)} "
        if len(text) + len(chunk) > width:
            break
        text.append(chunk, style=style)
    return text


def _left_label(row: int, plot_h: int, y_range, width: int) -> str:
    value = _tick_value(row, plot_h, y_range)
    return (fmt.number(value, 3) if value is not None else "").rjust(width - 1)[: width - 1] + "┤"


def _right_label(row: int, plot_h: int, y_range, width: int) -> str:
    value = _tick_value(row, plot_h, y_range)
    label = "" if value is None else fmt.number(value, 2)
    return "├" + label.ljust(width - 1)[: width - 1]


def _tick_value(row: int, plot_h: int, y_range) -> float | None:
    """A label on the top, middle and bottom rows: the axis top, its middle and its bottom."""
    y0, y1 = y_range
    if row == 0:
        return y1
    if row == plot_h - 1:
        return y0
    if row == plot_h // 2 and plot_h >= 5:
        return y1 - (row + 0.5) / plot_h * (y1 - y0)
    return None


def _x_axis(x_max: float, left: int, plot_w: int) -> str:
    axis = [" "] * plot_w
    for frac in (0.0, 0.5, 1.0):
        label = fmt.steps(x_max * frac)
        pos = min(int(frac * (plot_w - 1)), plot_w - len(label))
        if frac == 0.5:
            pos -= len(label) // 2
        axis[pos:pos + len(label)] = label
    return " " * (left - 5) + "step " + "".join(axis[:plot_w])
