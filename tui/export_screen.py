"""The export screen, opened with `e` once a run is over: the checkpoint to ship and how.

For now it shows the best checkpoint and the command line that exports it; the export
pipeline (ftui.export.pipeline.run_export) will be driven from here once it exists.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from ftui.trainer.rundir import RunDir
from ftui.trainer.runstate import RunState

from . import fmt


def export_command(run_path: Path) -> str:
    return f"ftui export {shlex.quote(str(run_path))} --onnx --quantize int8"


def export_text(run_path: Path, state: RunState, best: Path | None) -> Text:
    text = Text("Export to ONNX\n\n", style="bold")
    text.append(f"run         {run_path}\nstatus      {state.status}\n")
    if best is None:
        text.append("checkpoint  none: this run saved no checkpoint, there is nothing to export\n",
                    style="bold red")
        return text
    text.append("checkpoint  ")
    text.append(f"{best}\n", style="bold green")
    if state.best_value is not None:
        text.append(f"{state.metric_name:<11} {fmt.number(state.best_value, 4)} at step {state.best_step}\n")
    text.append("\nIn a shell, this exports it, checks it against PyTorch on the validation split,\n"
                "quantizes it to int8 and benchmarks it:\n\n")
    text.append(f"  {export_command(run_path)}\n", style="bold cyan")
    return text


class ExportScreen(Screen):
    BINDINGS = [Binding("escape,b", "app.pop_screen", "back")]

    def __init__(self, run_path: Path, state: RunState) -> None:
        super().__init__()
        self.run_path = Path(run_path)
        self.state = state

    def compose(self) -> ComposeResult:
        with Vertical(id="export"):
            yield Static(id="export-body")
        yield Footer()

    def on_mount(self) -> None:
        best = RunDir(self.run_path).best_checkpoint()
        self.query_one("#export-body", Static).update(export_text(self.run_path, self.state, best))
