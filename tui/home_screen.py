"""The home screen (`ftui` alone): recent runs, live ones marked; enter opens the cockpit on
one, n starts the default run."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from ftui.rundir.events import EventTail
from ftui.rundir.layout import RunDir
from ftui.rundir.runstate import RunState
from ftui.rundir.summary import last_changed, list_runs

from . import fmt
from .messages import OpenRun
from .run_header import status_label

MAX_RUNS = 50


@dataclass
class RunRow:
    path: Path
    status: str
    live: bool
    step: int
    total: int
    best: str
    model: str
    modified: float


class RunScanner:
    """Lists runs, keeping a RunState per run so each rescan folds only the new events."""

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = Path(runs_dir)
        self._known: dict[Path, tuple[EventTail, RunState]] = {}

    def scan(self, limit: int = MAX_RUNS) -> list[RunRow]:
        """The newest ``limit`` runs, newest first."""
        return [self._row(run) for run in list_runs(self.runs_dir)[:limit]]

    def _row(self, run: RunDir) -> RunRow:
        d = run.path
        tail, state = self._known.setdefault(d, (EventTail(run.events), RunState(name=d.name)))
        state.read(tail)
        live = bool(run.trainer_alive()) and not state.finished
        best = fmt.DASH if state.best_value is None else f"{state.metric_name} {fmt.number(state.best_value, 4)}"
        return RunRow(d, state.status, live, state.step, state.total_steps, best, state.model, last_changed(run))


def scan_runs(runs_dir: Path, limit: int = MAX_RUNS) -> list[RunRow]:
    return RunScanner(runs_dir).scan(limit)


class HomeScreen(Screen):
    BINDINGS = [
        Binding("enter", "open", "open", show=True),
        Binding("n", "new_run", "new default run"),
        Binding("r", "rescan", "refresh"),
        Binding("q", "app.quit", "quit"),
    ]

    def __init__(self, runs_dir: Path, spawn=None) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.spawn = spawn  # spawn_trainer, injectable for tests
        self.rows: list[RunRow] = []
        self.scanner = RunScanner(self.runs_dir)

    def compose(self) -> ComposeResult:
        yield Static(f"[b]ftui[/b]  runs in {self.runs_dir}   [dim]● live[/dim]", id="home-title")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Static("", id="home-hint")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("", "run", "status", "step", "best", "model", "updated")
        self.action_rescan()
        self.set_interval(5.0, self.action_rescan)

    def on_screen_resume(self) -> None:
        self.action_rescan()

    @work(thread=True, exclusive=True, group="scan")
    def action_rescan(self) -> None:
        rows = self.scanner.scan()
        self.app.call_from_thread(self._show, rows)

    def _show(self, rows: list[RunRow]) -> None:
        self.rows = rows
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        now = time.time()
        for r in rows:
            step = f"{r.step}/{r.total}" if r.total else str(r.step)
            table.add_row("●" if r.live else " ", r.path.name, status_label(r.status), step, r.best,
                          r.model[-24:], fmt.duration(now - r.modified) + " ago")
        if rows:
            table.move_cursor(row=min(cursor, len(rows) - 1))
        hint = ("no runs yet: press n to fine-tune the default model on the demo data"
                if not rows else "enter: open the cockpit on a run · n: start the default run")
        self.query_one("#home-hint", Static).update(f"[dim]{hint}[/dim]")

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if self.rows and 0 <= table.cursor_row < len(self.rows):
            self.post_message(OpenRun(self.rows[table.cursor_row].path, False))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_new_run(self) -> None:
        self.notify("starting the default run…")
        self._spawn()

    @work(thread=True, exclusive=True, group="spawn")
    def _spawn(self) -> None:
        spawn = self.spawn
        if spawn is None:
            from ftui.trainer.engine.launch import spawn_trainer as spawn
        try:
            path = spawn(None, [], self.runs_dir)
        except Exception as e:  # a user error (bad default, no space): say it, stay home
            self.app.call_from_thread(self.notify, f"could not start: {e}", severity="error")
            return
        self.app.call_from_thread(self.post_message, OpenRun(path, True))
