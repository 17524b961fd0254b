"""The export screen, opened with `e` once a run is over: choose the variants, run the export,
read the report.

The export itself is ftui.export.pipeline.run_export (no Textual in it). It runs in a thread
worker whose only link to the screen is post_message: ExportProgress per stage, then
ExportFinished (the report) or ExportFailed (one line). The handlers update the widgets.
Esc during an export sets its cancel event: it stops at the next stage, and the bundle from an
earlier export stays as it was (the pipeline publishes a bundle only once it is complete).
"""

from __future__ import annotations

import shlex
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, ScrollableContainer
from textual.screen import Screen
from textual.widgets import Checkbox, Footer, ProgressBar, Static

from ftui.rundir.layout import RunDir
from ftui.rundir.runstate import RunState
from ftui.rundir.tasks import DEFAULT_TASK, TASKS

from . import fmt
from .messages import ExportFailed, ExportFinished, ExportProgress


@dataclass(frozen=True)
class ExportChoice:
    """What the user ticked: the variants besides fp32, and whether to benchmark them."""

    optimize: bool = False  # onnxruntime O2 graph optimization
    int8: bool = True  # dynamic int8 quantization, gated on accuracy
    benchmark: bool = True

    def options(self, source: Path):
        from ftui.export.pipeline import ExportOptions

        return ExportOptions(Path(source), optimize="O2" if self.optimize else None,
                             quantize="int8" if self.int8 else None, benchmark=self.benchmark)

    def stages(self) -> list[str]:
        """The distinct stages this export reports, in order: the progress bar's steps."""
        wanted = {"optimize": self.optimize, "quantize": self.int8, "benchmark": self.benchmark}
        return [s for s in ("load", "validate", "export", "optimize", "quantize", "benchmark", "publish", "done")
                if wanted.get(s, True)]


def export_command(run_path: Path, choice: ExportChoice = ExportChoice()) -> str:
    """The shell command that runs the same export as `choice`."""
    words = ["ftui export", shlex.quote(str(run_path)), "--onnx"]
    words += ["--optimize O2"] * choice.optimize + ["--quantize int8"] * choice.int8
    words += ["--no-benchmark"] * (not choice.benchmark)
    return " ".join(words)


def predict_command(bundle: Path, task: str = DEFAULT_TASK, example: str | None = None) -> str:
    """The command that tries the bundle: on some text, or on an image (one the export validated, if given)."""
    if task in TASKS and TASKS[task].inputs == "image":
        return f"ftui predict {shlex.quote(str(bundle))} {shlex.quote(example or 'path/to/image.png')}"
    return f'ftui predict {shlex.quote(str(bundle))} "some text"'


def first_validation_image(run_path: Path) -> str | None:
    """An image of the run's saved validation split (image runs), for the "try" line."""
    images = sorted((Path(run_path) / "data" / "validation").glob("*.*"))
    return str(images[0]) if images else None


def last_export(run_path: Path) -> str | None:
    """What the bundle already in <run>/export says about itself ("PASS" or "FAIL: gates"), if there is one."""
    import json

    try:
        report = json.loads((run_path / "export" / "bundle" / "report.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(report, dict):
        return None
    return "PASS" if report.get("passed") else "FAIL: " + ", ".join(report.get("failed_gates") or [])


def intro_text(run_path: Path, state: RunState, best: Path | None, choice: ExportChoice) -> Text:
    """Before the export: which checkpoint, what the export checks, the same in a shell."""
    text = Text()
    text.append(f"run         {run_path}  ({state.status})\n")
    last = last_export(run_path)
    if last:
        text.append(f"exported    {last}, in {run_path / 'export' / 'bundle'} (s replaces it)\n")
    if best is None:
        text.append("checkpoint  none: this run saved no checkpoint, there is nothing to export\n",
                    style="bold red")
        return text
    text.append("checkpoint  ")
    text.append(f"{best.name}", style="bold green")
    if state.best_value is not None:
        text.append(f"  {state.metric_name} {fmt.number(state.best_value, 4)} at step {state.best_step}")
    text.append("\n\nExports it to ONNX, runs the validation split through PyTorch and onnxruntime,\n"
                "gates every variant on accuracy, and writes a bundle that needs no torch.\n"
                "The same in a shell:\n\n")
    text.append(f"  {export_command(run_path, choice)}\n", style="bold cyan")
    return text


def verdict_text(report) -> Text:
    """PASS, or FAIL with the names of the gates that failed."""
    if report.passed:
        return Text.assemble(("✔ PASS", "bold green"), f"  every gate passed; default model {report.default_model}")
    return Text.assemble(("✖ FAIL: " + ", ".join(report.failed_gates), "bold red"), "  (report and bundle kept)")


def bundle_text(bundle: Path, task: str = DEFAULT_TASK, example: str | None = None) -> Text:
    return Text.assemble(("bundle  ", "bold"), str(bundle), "\n", ("try     ", "bold"),
                         (predict_command(bundle, task, example), "bold cyan"))


class Tick(Checkbox):
    """A checkbox whose mark is blank when off, so its state reads without colour (and in a text capture)."""

    @property
    def BUTTON_INNER(self) -> str:  # noqa: N802 - Checkbox reads this class attribute per render
        return "X" if self.value else " "


class ExportScreen(Screen):
    BINDINGS = [
        Binding("o", "toggle('opt-o2')", "O2"),
        Binding("i", "toggle('opt-int8')", "int8"),
        Binding("b", "toggle('opt-bench')", "benchmark"),
        Binding("s", "start", "start export"),
        Binding("escape", "back", "back"),
    ]

    def __init__(self, run_path: Path, state: RunState) -> None:
        super().__init__()
        self.run_path = Path(run_path)
        self.state = state
        self.best: Path | None = None
        self.running = False
        self.cancel = threading.Event()  # the running export's; a new one per export
        self.started_at = 0.0
        self.stage = ""
        self.plan: list[str] = []  # the stages the running export will report
        self.seen: set[str] = set()
        self.lines: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(Text("Export to ONNX", style="bold"), id="export-title")
        with Horizontal(id="export-options"):
            yield Tick("O2 optimize (o)", False, id="opt-o2", compact=True)
            yield Tick("int8 quantize (i)", True, id="opt-int8", compact=True)
            yield Tick("benchmark (b)", True, id="opt-bench", compact=True)
        yield Static(id="export-status")
        yield ProgressBar(id="export-progress", show_eta=False)
        with ScrollableContainer(id="export-scroll"):
            yield Static(id="export-body")
        yield Static(id="export-bundle")
        yield Footer()

    def on_mount(self) -> None:
        self.best = RunDir(self.run_path).best_checkpoint()
        self.query_one("#export-bundle").display = False
        self.query_one(ProgressBar).display = False
        self._show_intro()
        self._say(Text("s starts the export" if self.best else "nothing to export", style="bold"))
        self.set_interval(1.0, self._tick)

    # --- what the user chose ---------------------------------------------------------------

    @property
    def choice(self) -> ExportChoice:
        value = lambda wid: self.query_one(f"#{wid}", Checkbox).value  # noqa: E731
        return ExportChoice(value("opt-o2"), value("opt-int8"), value("opt-bench"))

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """While an export runs, its options and the start key are off (one export at a time)."""
        if action in ("toggle", "start"):
            return not self.running and self.best is not None
        return True

    def action_toggle(self, wid: str) -> None:
        self.query_one(f"#{wid}", Checkbox).toggle()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if not self.lines:  # before the first export the intro shows the matching shell command
            self._show_intro()

    def action_back(self) -> None:
        if self.running:
            if not self.cancel.is_set():
                self.cancel.set()
                self.notify("cancelling: the export stops after its current stage; an earlier bundle stays",
                            severity="warning")
                self._tick()
            return
        self.app.pop_screen()

    def on_unmount(self) -> None:
        self.cancel.set()  # the app is closing: let the worker thread stop at its next stage

    # --- running it ------------------------------------------------------------------------

    def action_start(self) -> None:
        if self.running or self.best is None:
            return
        choice = self.choice
        self.running, self.started_at, self.stage = True, time.monotonic(), "load"
        self.cancel = threading.Event()
        self.plan, self.seen, self.lines = choice.stages(), set(), []
        self._set_busy(True)
        bar = self.query_one(ProgressBar)
        bar.update(total=len(self.plan), progress=0)
        bar.display = True
        self.query_one("#export-bundle").display = False
        self._show_lines()
        self._tick()
        self._export(choice.options(self.run_path), self.cancel)

    @work(thread=True, exclusive=True, group="export")
    def _export(self, opts, cancel: threading.Event) -> None:
        """Runs in a thread: touches no widget, only posts messages."""
        from ftui.export.errors import ExportError
        from ftui.export.pipeline import run_export

        start = time.monotonic()

        def progress(stage: str, detail: str) -> None:
            self.post_message(ExportProgress(stage, detail, time.monotonic() - start))

        try:
            self.post_message(ExportFinished(run_export(opts, progress, cancel)))
        except ExportError as e:
            self.post_message(ExportFailed(str(e)))
        except Exception as e:  # an engine bug: say so in one line, keep the traceback, keep the app up
            first = (str(e).splitlines() or [""])[0][:200]
            self.post_message(ExportFailed(f"export failed unexpectedly: {type(e).__name__}: {first}",
                                           traceback.format_exc()))

    def on_export_progress(self, message: ExportProgress) -> None:
        self.stage = message.stage
        self.seen.add(message.stage)
        self.query_one(ProgressBar).update(progress=len(self.seen & set(self.plan)))
        self.lines.append(f"[{message.elapsed_s:6.1f}s] {message.stage:<9} {message.detail}")
        self._show_lines()
        self._tick()

    def on_export_finished(self, message: ExportFinished) -> None:
        report = message.report
        self.query_one(ProgressBar).display = False  # the report needs the rows more
        self._say(verdict_text(report))
        self._show(Text(report.to_text()), table=True)
        self.query_one("#export-scroll").scroll_home(animate=False)
        bundle = self.query_one("#export-bundle", Static)
        bundle.update(bundle_text(Path(report.bundle_path), report.task, first_validation_image(self.run_path)))
        bundle.display = True
        self._done()  # last: "not running" means everything above is on screen

    def on_export_failed(self, message: ExportFailed) -> None:
        self._done()
        self.query_one(ProgressBar).display = False  # where it stopped is in the log lines
        self._say(Text("✖ " + message.error, style="bold red"))
        if message.traceback:
            self.lines += ["", *message.traceback.splitlines()]
        self._show_lines()

    # --- drawing ---------------------------------------------------------------------------

    def _done(self) -> None:
        self.running = False
        self._set_busy(False)
        self.query_one("#export-scroll").focus()  # arrows and page keys now scroll the report

    def _set_busy(self, busy: bool) -> None:
        for box in self.query(Checkbox):
            box.disabled = busy
        self.refresh_bindings()

    def _say(self, text: Text) -> None:
        self.query_one("#export-status", Static).update(text)

    def _tick(self) -> None:
        if self.running:
            elapsed = fmt.duration(time.monotonic() - self.started_at)
            what = "cancelling after" if self.cancel.is_set() else "exporting…"
            hint = "" if self.cancel.is_set() else "  (esc cancels)"
            self._say(Text(f"{what} {self.stage}  {elapsed}{hint}", style="bold yellow"))

    def _show(self, text: Text, table: bool) -> None:
        """Prose wraps to the screen; log lines and the report keep their columns and scroll sideways."""
        body = self.query_one("#export-body", Static)
        body.set_class(table, "-table")
        body.update(text)

    def _show_intro(self) -> None:
        self._show(intro_text(self.run_path, self.state, self.best, self.choice), table=False)

    def _show_lines(self) -> None:
        self._show(Text("\n".join(self.lines)), table=True)
        self.query_one("#export-scroll").scroll_end(animate=False)
