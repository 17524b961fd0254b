"""A Static that repaints only when what it shows has changed.

The cockpit hands every pane the state several times a second; building and painting a
Rich table costs milliseconds, so each pane names what its drawing depends on (a small
tuple) and the drawing is rebuilt only when that changes. Panes have CSS-fixed sizes, so an
update never needs a new layout of the screen.
"""

from __future__ import annotations

from typing import Callable

from textual.widgets import Static


class Pane(Static):
    _shown: object = None

    def paint(self, key, build: Callable[[], object]) -> None:
        """Calls ``build`` and shows its result unless ``key`` (and the size) are as last time."""
        key = (key, self.size)
        if key == self._shown:
            return
        self._shown = key
        self.update(build(), layout=False)
