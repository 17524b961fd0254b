"""The compare screen's leaderboard: one row per run, best first, and the cursor stays on its run.

A DataTable the screen fills with ``show(standings)``; rows are keyed by the run's index, so
when a run overtakes another the selection follows the run, not the row number. Columns are
sized to fit 80 columns with a diagnosis column; the run name takes what is left.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from ftui.rundir.compare import Standing

from . import fmt
from .chart import METRIC_SHORT
from .overlay_chart import run_style
from .run_header import STATUS_STYLES

# (label, width): fixed columns; the run name gets the rest of the width
COLUMNS = (("#", 1), ("run", 0), ("metric", 6), ("@step", 5), ("smp/s", 5), ("params", 6), ("ckpt", 5),
           ("status", 9))
# status words short enough for the column (the symbol carries the colour)
STATUS_SHORT = {"finished": "done", "starting": "start", "evaluating": "eval", "nan_halted": "nan"}
DIAGNOSIS = ("diagnosis", 12)
MIN_NAME, MAX_NAME = 8, 28


class Leaderboard(DataTable):
    """Shows standings; ``selected`` is the run index under the cursor (None with no rows)."""

    DEFAULT_CSS = """
    Leaderboard { height: auto; max-height: 12; scrollbar-size-vertical: 1; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, cell_padding=1, **kwargs)
        self.order: list[int] = []
        self._shown: tuple | None = None
        self.follow = False  # until the user moves the cursor it stays on the leader

    def action_cursor_up(self) -> None:
        self.follow = True
        super().action_cursor_up()

    def action_cursor_down(self) -> None:
        self.follow = True
        super().action_cursor_down()

    @property
    def selected(self) -> int | None:
        if not self.order:
            return None
        return self.order[min(max(self.cursor_row, 0), len(self.order) - 1)]

    def show(self, rows: list[Standing], metric: str) -> None:
        """Rebuilds the table when a row's facts, the columns or the width changed."""
        diagnosed = any(r.diagnosis for r in rows)
        key = (tuple(_cells_key(r) for r in rows), metric, diagnosed, self.size.width)
        if key == self._shown:
            return
        self._shown = key
        keep = self.selected
        self.clear(columns=True)
        columns = list(COLUMNS) + ([DIAGNOSIS] if diagnosed else [])
        name_w = self._name_width(columns)
        for label, width in columns:
            label = METRIC_SHORT.get(metric, metric)[:6] if label == "metric" else label
            self.add_column(label, width=width or name_w, key=label)
        for rank, r in enumerate(rows, 1):
            self.add_row(*_cells(rank, r, name_w, diagnosed), key=str(r.index))
        self.order = [r.index for r in rows]
        if self.follow and keep in self.order:
            self.move_cursor(row=self.order.index(keep), animate=False)

    def _name_width(self, columns: list) -> int:
        width = self.size.width or 80
        fixed = sum(w for _, w in columns) + 2 * self.cell_padding * len(columns) + 1  # a scrollbar
        return max(MIN_NAME, min(MAX_NAME, width - fixed))


def _cells_key(r: Standing) -> tuple:
    return (r.index, r.name, r.status, r.value, r.best_step, None if r.samples_per_s is None
            else round(r.samples_per_s, 1), r.params_trainable, r.checkpoint_bytes, r.diagnosis)


def _cells(rank: int, r: Standing, name_w: int, diagnosed: bool) -> list:
    name = r.name if len(r.name) <= name_w - 2 else r.name[:name_w - 3] + "…"
    symbol, style = STATUS_STYLES.get(r.status, ("?", "bold"))
    cells = [
        Text(str(rank), style="bold" if rank == 1 else "dim"),
        Text(f"━ {name}", style=run_style(r.index)),
        Text(fmt.number(r.value, 4), justify="right"),
        Text(fmt.DASH if r.best_step is None else fmt.steps(r.best_step), justify="right"),
        Text(fmt.rate(r.samples_per_s), justify="right"),
        Text(fmt.params(r.params_trainable), justify="right"),
        Text(fmt.size(r.checkpoint_bytes), justify="right"),
        Text(f"{symbol} {STATUS_SHORT.get(r.status, r.status)[:7]}", style=style),
    ]
    if diagnosed:
        cells.append(Text(r.diagnosis or fmt.DASH, style="bold yellow" if r.diagnosis not in (None, "healthy")
                          else "dim"))
    return cells
