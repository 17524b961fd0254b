"""The checkpoints pane: step, metric, size and age of each checkpoint, the best one starred."""

from __future__ import annotations

import time

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from . import fmt


def checkpoint_table(checkpoints: list[dict], best_path: str | None, rows: int, now: float,
                     width: int = 80) -> Table:
    """The newest ``rows`` checkpoints, newest first; ★ marks the best one. The reason column
    (epoch, steps, command, stop, final) shows only when there is room for it."""
    table = Table(box=None, padding=(0, 1), expand=False, show_edge=False, header_style="dim")
    columns = ["step", "metric", "size", "age"] + (["why"] if width >= 40 else [])
    for name in columns:
        table.add_column(name, justify="left" if name == "why" else "right", no_wrap=True)
    shown = checkpoints[::-1][: max(rows, 1)]
    for ck in shown:
        best = bool(best_path) and ck.get("path") == best_path
        style = "bold green" if best else ""
        cells = [
            Text.assemble(("★ " if best else "  ", "bold yellow"), (str(ck.get("step", "?")), style)),
            Text(fmt.number(ck.get("value"), 4), style=style),
            fmt.size(ck.get("size_bytes")),
            fmt.duration(now - ck["t"]) if ck.get("t") else fmt.DASH,
            Text(str(ck.get("reason", "")), style="dim"),
        ]
        table.add_row(*cells[: len(columns)])
    return table


class CheckpointsPane(Static):
    def show(self, checkpoints: list[dict], best_path: str | None) -> None:
        if not checkpoints:
            self.update(Text("no checkpoint yet", style="dim"))
            return
        rows = max(1, (self.size.height or 5) - 1)
        self.update(checkpoint_table(checkpoints, best_path, rows, time.time(), self.size.width or 80))
