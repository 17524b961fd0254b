"""The metrics pane: learning rate, throughput, grad norm, latest losses, best metric and where."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from ftui.rundir.runstate import RunState

from . import fmt
from .pane import Pane


def metric_rows(state: RunState) -> list[tuple[str, str]]:
    """(label, value) pairs; values the trainer has not reported yet are "–"."""
    last_loss = state.train_loss[-1][1] if state.train_loss else None
    last_eval = state.evals[-1][1] if state.evals else {}
    best = fmt.DASH
    if state.best_value is not None:
        best = f"{fmt.number(state.best_value, 4)} @ {state.best_step}"
    rows = [
        ("lr", fmt.number(state.lr, 3)),
        ("samples/s", fmt.rate(state.samples_per_s)),
        ("tokens/s", fmt.rate(state.tokens_per_s)),
        ("grad norm", fmt.number(state.grad_norm, 3)),
        ("train loss", fmt.number(last_loss, 4)),
        ("eval loss", fmt.number(last_eval.get("loss"), 4)),
        (state.metric_name, fmt.number(last_eval.get(state.metric_name), 4)),
        (f"best {state.metric_name[:8]}", best),
    ]
    if state.rank_step_s and len(state.rank_step_s) > 1:
        # global throughput above; per-rank step times here, to spot a straggler
        rows.append((f"s/step ×{len(state.rank_step_s)}", " ".join(f"{t:.2f}" for t in state.rank_step_s[:6])))
    return rows


class MetricsPane(Pane):
    def show(self, state: RunState) -> None:
        rows = metric_rows(state)
        self.paint(tuple(rows), lambda: self._build(rows))

    @staticmethod
    def _build(rows: list[tuple[str, str]]) -> Table:
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(style="dim", no_wrap=True)
        table.add_column(justify="right", no_wrap=True)
        for label, value in rows:
            style = "bold green" if label.startswith("best") and value != fmt.DASH else ""
            table.add_row(label, Text(value, style=style))
        return table
