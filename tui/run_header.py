"""The cockpit's top two lines: status, run name, model, strategy with trainable / total parameters;
epoch, step of total with a bar, elapsed, ETA."""

from __future__ import annotations

import time

from rich.text import Text

from ftui.rundir.runstate import RunState

from . import fmt
from .pane import Pane

# status -> (symbol, style); the trainer's own words, upper-cased, follow the symbol
STATUS_STYLES = {
    "starting": ("◌", "bold blue"),
    "running": ("●", "bold green"),
    "paused": ("‖", "bold yellow"),
    "evaluating": ("◐", "bold cyan"),
    "saving": ("◑", "bold cyan"),
    "stopped": ("■", "bold yellow"),
    "finished": ("✔", "bold green"),
    "failed": ("✖", "bold red"),
    "nan_halted": ("✖", "bold red"),
    "died": ("✖", "bold red"),
    "silent": ("?", "bold yellow"),
}
STATUS_WORDS = {"nan_halted": "NaN-HALTED", "died": "TRAINER DIED", "silent": "NO HEARTBEAT"}


def status_label(status: str) -> Text:
    symbol, style = STATUS_STYLES.get(status, ("?", "bold"))
    return Text(f"{symbol} {STATUS_WORDS.get(status, status.upper())}", style=style)


def elapsed_s(state: RunState, now: float) -> float | None:
    """Wall time since the run started; frozen at the last event once the run is over."""
    if state.started_t is None:
        return None
    end = state.last_t if state.finished and state.last_t else now
    return max(0.0, end - state.started_t)


def progress_bar(done: int, total: int, width: int) -> Text:
    if total <= 0 or width <= 0:
        return Text("")
    frac = min(1.0, max(0.0, done / total))
    full = int(frac * width)
    return Text("━" * full, style="green") + Text("─" * (width - full), style="grey35")


def trainable_words(run_start: dict, short: bool = False) -> str:
    """The strategy and its trainable share from the run_start event, e.g.
    ``lora · 0.30M / 22.7M trainable (1.3%)`` or, ``short``, ``lora 0.30M/22.7M 1.3%``;
    empty before the event."""
    total, trainable = run_start.get("params_total"), run_start.get("params_trainable")
    strategy = run_start.get("strategy") or ""
    if not isinstance(total, int) or not isinstance(trainable, int) or total <= 0:
        return strategy
    if short:
        return f"{strategy} {fmt.params(trainable)}/{fmt.params(total)} {fmt.share(trainable, total)}".strip()
    return (f"{strategy} · {fmt.params(trainable)} / {fmt.params(total)} trainable "
            f"({fmt.share(trainable, total)})").lstrip(" ·")


class RunHeader(Pane):
    """Shows a RunState; the screen calls ``show`` with the state and the trainer verdict."""

    DEFAULT_CSS = """
    RunHeader { text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def show(self, state: RunState, verdict: str = "ok", now: float | None = None) -> None:
        now = time.time() if now is None else now
        shown = verdict if verdict != "ok" else state.status
        elapsed = elapsed_s(state, now)
        start = state.run_start
        key = (shown, state.name, state.model, state.step, state.total_steps, state.epoch, state.epochs,
               None if elapsed is None else int(elapsed), state.eta_s, start.get("device"),
               start.get("strategy"), start.get("params_trainable"), start.get("params_total"))
        self.paint(key, lambda: self._build(state, shown, elapsed))

    def _build(self, state: RunState, shown: str, elapsed: float | None) -> Text:
        line1 = self._identity(state, shown, self.size.width)
        epochs = f"/{state.epochs:g}" if state.epochs else ""
        line2 = Text(f"epoch {state.epoch:.2f}{epochs}  step {state.step}/{state.total_steps or '?'} ")
        tail = Text()
        if state.total_steps:
            tail.append(f" {100 * state.step / state.total_steps:3.0f}%")
        tail.append(f"  elapsed {fmt.duration(elapsed)}")
        if not state.finished:
            tail.append(f"  ETA {fmt.duration(state.eta_s)}")
        bar_w = max(0, self.size.width - len(line2) - len(tail))
        return line1 + Text("\n") + line2 + progress_bar(state.step, state.total_steps, min(bar_w, 40)) + tail

    @staticmethod
    def _identity(state: RunState, shown: str, width: int) -> Text:
        """Status and name, then the strategy's trainable share at the right edge; the model and
        device go first, then the long strategy words, when the line would not fit ``width``."""
        model = f"  {state.model}" if state.model else ""
        device = f" on {state.run_start['device']}" if state.run_start.get("device") else ""
        head = status_label(shown) + Text("  ") + Text(state.name or "(run starting)", style="bold")
        long, short = trainable_words(state.run_start), trainable_words(state.run_start, short=True)
        options = ((model + device, long), (model, long), (model, short), ("", long), ("", short), ("", ""))
        for extra, words in options:  # the last always "fits": a name too long is cut (CSS: ellipsis)
            if not width or len(head) + len(extra) + len(words) + 2 <= width:
                break
        line = head + Text(extra, style="dim")
        if words:
            gap = max(2, width - len(line) - len(words)) if width else 2
            line.append(" " * gap + words, style="cyan")
        return line
