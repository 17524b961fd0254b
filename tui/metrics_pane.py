"""The metrics pane: learning rate, throughput, grad norm, latest losses, best metric and where."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from ftui.rundir.runstate import RunState

from . import fmt
from .pane import Pane


# What the metrics pane's narrow column says a diagnosis suggests (the log pane has the full sentence).
# Both fit the pane's title (26 cells in a 32-wide pane) together: "overfit: stop, keep best".
ACTION_WORDS = {"stop_keep_best": "stop, keep best", "lower_lr": "lower lr (L)", "raise_lr": "raise lr (L)",
                "unfreeze": "unfreeze", "more_epochs": "more epochs"}
KIND_WORDS = {"overfitting": "overfit", "underfitting": "underfit", "diverging": "diverging",
              "lr_too_low": "lr too low", "lr_too_high": "lr too high", "plateau": "plateau"}


def diagnosis_words(state: RunState) -> str:
    """"overfit: stop, keep best": the current diagnosis and what to do, for the pane's title
    (every row inside is taken at 80x24); "" when there is none."""
    diagnosis = state.diagnosis
    if not diagnosis:
        return ""
    kind = KIND_WORDS.get(diagnosis["kind"], diagnosis["kind"])
    action = ACTION_WORDS.get(diagnosis.get("action", "none"))
    return f"{kind}: {action}" if action else kind


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
        title = diagnosis_words(state) or "metrics"
        if title != self.border_title:
            self.border_title = title
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
