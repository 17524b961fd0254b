"""The checkpoints pane: step, metric, size and age of each checkpoint, the best one starred."""

from __future__ import annotations

import time

from rich.table import Table
from rich.text import Text

from . import fmt
from .pane import Pane


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


def present(checkpoints: list[dict], on_disk: frozenset | None) -> list[dict]:
    """The checkpoints still on disk (rotation deletes old ones); all of them if unknown."""
    if on_disk is None:
        return checkpoints
    return [ck for ck in checkpoints if str(ck.get("path", "")).rsplit("/", 1)[-1] in on_disk]


class CheckpointsPane(Pane):
    def show(self, checkpoints: list[dict], best_path: str | None, on_disk: frozenset | None = None) -> None:
        now = time.time()
        key = (len(checkpoints), best_path, on_disk, int(now))  # ages tick once a second
        self.paint(key, lambda: self._build(checkpoints, best_path, on_disk, now))

    def _build(self, checkpoints: list[dict], best_path: str | None, on_disk, now: float):
        kept = present(checkpoints, on_disk)
        if not kept:
            return Text("no checkpoint yet" if not checkpoints else "no checkpoint left on disk", style="dim")
        rows = max(1, (self.size.height or 5) - 1)
        table = checkpoint_table(kept, best_path, rows, now, self.size.width or 80)
        gone = len(checkpoints) - len(kept)
        if gone and len(kept) < rows:
            table.caption = f"{gone} older rotated out"
            table.caption_style = "dim"
        return table
