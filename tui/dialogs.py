"""The cockpit's small modal prompts: confirm stop, quit (detach or stop), set learning rate.

Each is keyboard-only and dismisses with its answer; the cockpit screen acts on it.
"""

from __future__ import annotations

import math

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from ftui.rundir.events_schema import MAX_LR_SCALE


def parse_lr(text: str) -> tuple[float, str]:
    """ "3e-5" -> (3e-05, "set"); "x0.5" or "*0.5" -> (0.5, "scale"). ValueError otherwise."""
    raw = text.strip().lower()
    mode = "set"
    if raw[:1] in ("x", "*", "×"):
        mode, raw = "scale", raw[1:].strip()
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"not a number: {text.strip()!r} (try 3e-5, or x0.5 to scale)") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError("the learning rate must be a positive number")
    if mode == "set" and value >= 1:
        raise ValueError(f"{value:g} is not a learning rate; to scale it write x{value:g}")
    if mode == "scale" and value > MAX_LR_SCALE:  # what the trainer would refuse
        raise ValueError(f"x{value:g} is too large a step: at most x{MAX_LR_SCALE:g} at once")
    return value, mode


class ConfirmStop(ModalScreen[bool]):
    """y: stop the run (the trainer saves a checkpoint first); n or escape: keep training."""

    BINDINGS = [Binding("y", "answer(True)", "stop"), Binding("n,escape", "answer(False)", "cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("[b]Stop the run?[/b]\nThe trainer saves a checkpoint, then stops.\n\n"
                         "[b]y[/b] stop    [b]n[/b] keep training")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class QuitPrompt(ModalScreen[str | None]):
    """d: detach (the run goes on), s: stop the run then leave, escape: stay."""

    BINDINGS = [Binding("d", "answer('detach')", "detach"), Binding("s", "answer('stop')", "stop"),
                Binding("escape,n,c", "answer(None)", "cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("[b]Leave the cockpit[/b]\n\n[b]d[/b] detach: training goes on "
                         "(re-attach with ftui watch)\n[b]s[/b] stop: checkpoint, then stop the run\n"
                         "[b]esc[/b] stay")

    def action_answer(self, answer: str | None) -> None:
        self.dismiss(answer)


class LrPrompt(ModalScreen[tuple | None]):
    """An input for the learning rate: a value (3e-5) or a factor (x0.5); escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, current: float | None) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        now = f"{self.current:.3g}" if self.current else "unknown"
        with Vertical(classes="dialog"):
            yield Static(f"[b]Learning rate[/b] (now {now})\n3e-5 sets it, x0.5 scales it; enter applies")
            yield Input(placeholder="3e-5 or x0.5", id="lr-input")
            yield Static("", id="lr-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            self.dismiss(parse_lr(event.value))
        except ValueError as e:
            self.query_one("#lr-error", Static).update(f"[red]{e}[/red]")

    def action_cancel(self) -> None:
        self.dismiss(None)
