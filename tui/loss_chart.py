"""The loss chart widget: draws a LossHistory at whatever size the layout gives it."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widget import Widget

from .chart import LossHistory, render_chart


class LossChart(Widget):
    """Redraws only when the history or the size changed, and at most once a second: a
    10^5-point chart costs milliseconds, and a person reads a trend, not every step."""

    MIN_INTERVAL_S = 1.0

    def __init__(self, history: LossHistory | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.history = history or LossHistory()
        self._cache: tuple | None = None
        self._drawn_at = 0.0
        self._scheduled = False

    def changed(self) -> None:
        """The screen added points to ``history``: redraw now, or once the interval has passed."""
        wait = self._drawn_at + self.MIN_INTERVAL_S - time.monotonic()
        if wait <= 0:
            self.refresh()
        elif not self._scheduled:
            self._scheduled = True
            self.set_timer(wait, self._redraw_later)

    def _redraw_later(self) -> None:
        self._scheduled = False
        self.refresh()

    def render(self) -> Text:
        key = (self.history.version, self.size.width, self.size.height)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, render_chart(self.history, self.size.width, self.size.height))
            self._drawn_at = time.monotonic()
        return self._cache[1]
