"""Promoting a sweep's winner: ask for a step budget, then `ftui train --resume RUN --max-steps N`.

The resume runs as its own process in its own session (as `ftui train` starts a trainer), with
its output in the run's trainer.log, so the TUI never imports torch and a closed terminal never
stops it. The launcher is a plain function the compare screen takes as an argument: tests pass
a fake one.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from ftui.rundir.events_schema import MAX_INT
from ftui.rundir.layout import RunDir


def promote_argv(run_path: Path, max_steps: int) -> list[str]:
    """The command line a promotion runs: the CLI itself, headless, so it needs no terminal."""
    return [sys.executable, "-m", "ftui.tui.cli", "train", "--resume", str(run_path),
            "--max-steps", str(max_steps), "--headless"]


def launch_promotion(run_path: Path, max_steps: int) -> subprocess.Popen:
    """Starts the resume detached; its output (and any one-line refusal) goes to trainer.log."""
    log = open(RunDir(Path(run_path)).log, "ab")
    try:
        return subprocess.Popen(promote_argv(run_path, max_steps), stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    finally:
        log.close()


def parse_steps(text: str, at_least: int) -> int:
    """A step budget: a whole number above the steps already done. ValueError otherwise."""
    raw = text.strip().replace("_", "").replace(",", "")
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"not a whole number of steps: {text.strip()!r}") from None
    if value <= at_least:
        raise ValueError(f"the run is at step {at_least}: give more steps than that")
    if value > MAX_INT:
        raise ValueError("too many steps")
    return value


class StepsPrompt(ModalScreen[int | None]):
    """The winner's new step budget (enter accepts the default shown); escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, name: str, done: int, default: int) -> None:
        super().__init__()
        self.run_name, self.done, self.default = name, done, default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"[b]Promote {self.run_name}[/b] (at step {self.done})\n"
                         f"resume it up to this many steps; enter starts it")
            yield Input(value=str(self.default), id="steps-input")
            yield Static("", id="steps-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            self.dismiss(parse_steps(event.value, self.done))
        except ValueError as e:
            self.query_one("#steps-error", Static).update(f"[red]{e}[/red]")

    def action_cancel(self) -> None:
        self.dismiss(None)
