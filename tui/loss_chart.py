"""The loss chart widget: draws a LossHistory at whatever size the layout gives it."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from .chart import LossHistory, render_chart


class LossChart(Widget):
    """Redraws only when the history or the size changed since the last drawing."""

    def __init__(self, history: LossHistory | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.history = history or LossHistory()
        self._cache: tuple | None = None

    def changed(self) -> None:
        """The screen added points to ``history``; draw them on the next refresh."""
        self.refresh()

    def render(self) -> Text:
        key = (self.history.version, self.size.width, self.size.height)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, render_chart(self.history, self.size.width, self.size.height))
        return self._cache[1]
