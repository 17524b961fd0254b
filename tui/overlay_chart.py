"""Several runs' curves in one braille chart, each run in its own colour, for the compare screen.

Built on the single-run chart's pieces (``chart._plot_layer`` decimates and rasterises one
series; the axis labels are the same), so a 10^5-step run costs the compare screen what it
costs the cockpit. Pure functions and a Rich ``Text`` out; the widget below only sizes and caches.
"""

from __future__ import annotations

import time

import numpy as np
from rich.text import Text

from .chart import _left_label, _plot_layer, _range, _x_axis
from .loss_chart import LossChart

# One colour per run, by its place in the list given (not its rank, so a colour stays with a run).
RUN_STYLES = ("bold cyan", "bold magenta", "bold yellow", "bold green", "bold red", "bold blue",
              "bold white", "grey62")


def run_style(index: int) -> str:
    return RUN_STYLES[index % len(RUN_STYLES)]


def render_overlay(title: str, series: list, width: int, height: int, points: bool = False,
                   unit_range: bool = False) -> Text:
    """``series`` is ``[(run_index, x, y)]``, drawn back to front (the last on top). The first line
    is the title, then the plot with its value axis on the left, then the step axis.
    ``unit_range``: a metric in [0, 1] keeps that axis, so runs compare on the same scale."""
    left = 7
    plot_w, plot_h = width - left, height - 2
    if plot_w < 8 or plot_h < 2:
        return Text(title[:width] if width > 0 else "", style="dim")
    text = Text(title, style="bold")
    drawn = [(i, x, y) for i, x, y in series if len(x)]
    if not drawn:
        text.append("\n" + "waiting for points…", style="dim")
        return text
    x_range = (0.0, max(max(float(np.nanmax(x)) for _, x, _ in drawn), 1.0))
    ys = [y for _, _, y in drawn]
    finite = [y[np.isfinite(y)] for y in ys]
    within = all(len(f) == 0 or (f.min() >= 0 and f.max() <= 1) for f in finite)
    y_range = (0.0, 1.0) if unit_range and within else _range(*ys)
    grids = [(i, _plot_layer(x, y, x_range, y_range, plot_w, plot_h, points=points)) for i, x, y in drawn]
    for row in range(plot_h):
        text.append("\n")
        text.append(_left_label(row, plot_h, y_range, left), style="dim")
        _append_row(text, grids, row)
    text.append("\n")
    text.append(_x_axis(x_range[1], left, plot_w), style="dim")
    return text


def _append_row(text: Text, grids: list, row: int) -> None:
    """One plot row; a cell takes the colour of the front-most run with a dot in it."""
    bits = np.zeros_like(grids[0][1][row])
    owner = np.full(bits.shape, -1)
    for index, grid in grids:
        bits |= grid[row]
        owner[grid[row] > 0] = index
    chars = [chr(0x2800 + b) if b else " " for b in bits.tolist()]
    owners = owner.tolist()
    start = 0
    for i in range(1, len(chars) + 1):
        if i == len(chars) or owners[i] != owners[start]:
            text.append("".join(chars[start:i]), style=run_style(owners[start]) if owners[start] >= 0 else "")
            start = i


class OverlayChart(LossChart):
    """Draws ``series()`` (a callable the screen hands in) under ``title``; redraws when it is told
    the runs ``changed`` or the size changes, at most once a second (LossChart's throttle)."""

    def __init__(self, series, title: str = "", points: bool = False, unit_range: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.series = series
        self.title = title
        self.points, self.unit_range = points, unit_range
        self.version = 0

    def changed(self) -> None:
        self.version += 1
        super().changed()

    def render(self) -> Text:
        key = (self.version, self.title, self.size.width, self.size.height)
        if self._cache is None or self._cache[0] != key:
            drawing = render_overlay(self.title, self.series(), self.size.width, self.size.height,
                                     self.points, self.unit_range)
            self._cache = (key, drawing)
            self._drawn_at = time.monotonic()
        return self._cache[1]
