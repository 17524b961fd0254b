"""The compare screen: several runs (a sweep's candidates) live, curves overlaid, a leaderboard.

One watcher per run, as the cockpit has one; each posts through a relay that tags its messages
with the run's place in the list, so one screen folds them into one RunState per run. Keys act
on the run under the leaderboard's cursor: open it in the normal cockpit (escape comes back),
stop it, or promote the winner (resume it with a bigger step budget). On a sweep folder the screen
looks for new run folders every DISCOVER_S seconds, so candidates the sweep starts later join the
board (and the title counts those still waiting their turn).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from ftui.rundir.compare import mark_winner, pending_candidates, ranking_metric, read_sweep, standings, sweep_runs
from ftui.rundir.events import write_command
from ftui.rundir.runstate import RunState

from .chart import LossHistory
from .cockpit import CockpitScreen
from .dialogs import ConfirmStop
from .leaderboard import Leaderboard
from .messages import CandidateRead, CockpitClosed, RunRead, TrainerHealth
from .overlay_chart import OverlayChart
from .promote import StepsPrompt, launch_promotion
from .watcher import verdict

DISCOVER_S = 2.0  # how often a sweep folder is looked at for candidates started since


def add_to_history(history: LossHistory, event: dict) -> None:
    """The points a step or an eval event adds to a run's curves."""
    if event.get("type") == "step":
        history.add_step(event.get("step", 0), event.get("loss"))
    elif event.get("type") == "eval":
        history.add_eval(event.get("step", 0), event.get("metrics") or {})


class CandidateCockpit(CockpitScreen):
    """The normal cockpit on one candidate; escape goes back to the compare screen."""

    BINDINGS = [Binding("escape", "back", "compare")]

    def action_back(self) -> None:
        self.post_message(CockpitClosed("back"))


class Relay:
    """What a run's watcher posts to: tags each message with the run's index, then forwards it
    (``post_message`` is thread-safe, so the watcher thread may call this)."""

    def __init__(self, screen: Screen, index: int) -> None:
        self.screen, self.index = screen, index

    def post_message(self, message) -> bool:
        return self.screen.post_message(CandidateRead(self.index, message))


@dataclass
class Candidate:
    """One compared run: its folder, its watcher, and what the screen has folded from it."""

    path: Path
    watcher: object
    state: RunState
    history: LossHistory = field(default_factory=LossHistory)
    health: TrainerHealth = field(default_factory=lambda: TrainerHealth(None, None, []))

    @property
    def verdict(self) -> str:
        return verdict(self.state.status, self.health.alive, self.health.silent_s)

    @property
    def over(self) -> bool:
        return self.state.finished or self.verdict == "died"


class CompareScreen(Screen):
    BINDINGS = [
        Binding("o", "open", "open"),
        Binding("s", "stop", "stop"),
        Binding("p", "promote", "promote winner"),
        Binding("q", "app.quit", "quit"),
    ]
    DEFAULT_CSS = """
    CompareScreen { layout: vertical; }
    #compare-title { height: 1; padding: 0 1; background: $boost; text-wrap: nowrap; text-overflow: ellipsis; }
    #curves { height: 1fr; min-height: 6; }
    #loss-overlay, #metric-overlay { width: 1fr; padding: 0 1; }
    #compare-note { height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, run_paths: list, watcher_factory, sweep: Path | None = None, launcher=launch_promotion) -> None:
        super().__init__()
        self.sweep = Path(sweep) if sweep else None
        self.sweep_info = read_sweep(self.sweep) if self.sweep else None  # read again as candidates appear
        self.launcher, self.watcher_factory = launcher, watcher_factory
        self.candidates = [self._candidate(Path(p)) for p in run_paths]
        self.metric, self.greater, self.metric_note = "accuracy", True, ""
        self.rows: list = []

    def compose(self) -> ComposeResult:
        yield Static("", id="compare-title")
        with Horizontal(id="curves"):
            yield OverlayChart(self._loss_series, "train loss", id="loss-overlay")
            yield OverlayChart(self._metric_series, "eval", points=True, unit_range=True, id="metric-overlay")
        yield Leaderboard(id="leaderboard")
        yield Static("", id="compare-note")
        yield Footer()

    def _candidate(self, path: Path) -> Candidate:
        return Candidate(path, self.watcher_factory(path), RunState(name=path.name))

    def on_mount(self) -> None:
        for i, c in enumerate(self.candidates):
            c.watcher.start(Relay(self, i))
        self.query_one(Leaderboard).focus()
        if self.sweep is not None:
            self.set_interval(DISCOVER_S, self.discover)
        self.redraw()

    def discover(self) -> None:
        """Run folders the sweep made since the last look join the board, each with its own watcher."""
        self.sweep_info = read_sweep(self.sweep) or self.sweep_info
        known = {c.path.resolve() for c in self.candidates}
        new = [run.path for run in sweep_runs(self.sweep, self.sweep_info) if run.path.resolve() not in known]
        for path in new:
            self.candidates.append(self._candidate(path))
            self.candidates[-1].watcher.start(Relay(self, len(self.candidates) - 1))
        if new:
            self.redraw()

    def _pending(self) -> list[str]:
        return pending_candidates(self.sweep_info, {c.path.name for c in self.candidates}) if self.sweep else []

    def on_unmount(self) -> None:
        for c in self.candidates:
            c.watcher.stop()

    # --- data in ---------------------------------------------------------------------------

    def on_candidate_read(self, tagged: CandidateRead) -> None:
        c = self.candidates[tagged.index]
        message = tagged.message
        if isinstance(message, TrainerHealth):
            c.health = message
        elif isinstance(message, RunRead):
            for event in message.events:
                c.state.apply(event)
                add_to_history(c.history, event)
            c.state.note_skipped(message.skipped, message.last_skip)
            for chart in self.query(OverlayChart):
                chart.changed()
        self.redraw()

    def _rank(self) -> None:
        states = [c.state for c in self.candidates]
        metric, greater, note = ranking_metric(states, self.sweep_info)
        if metric != self.metric:
            for c in self.candidates:  # the charts draw the ranking metric, whatever each run tracks
                c.history.metric = metric
                c.history.eval_metric = type(c.history.eval_metric)()
                for step, metrics in c.state.evals:
                    c.history.add_eval(step, {metric: metrics.get(metric)})
        self.metric, self.greater, self.metric_note = metric, greater, note
        shown = [c.verdict if c.verdict == "died" else c.state.status for c in self.candidates]
        self.rows = standings(states, metric, greater, shown)

    def redraw(self) -> None:
        self._rank()
        board = self.query_one(Leaderboard)
        board.show(self.rows, self.metric)
        self.query_one("#metric-overlay", OverlayChart).title = f"eval {self.metric}"
        waiting = self._pending()
        where = (f"sweep {self.sweep.name}" + (f" ({len(waiting)} waiting)" if waiting else "")
                 if self.sweep else f"{len(self.candidates)} runs")
        better = "higher" if self.greater else "lower"
        self.query_one("#compare-title", Static).update(
            f"[b]ftui compare[/b]  {where} · ranked by best {self.metric} ({better} is better)")
        self.query_one("#compare-note", Static).update(self._note())

    def _note(self) -> str:
        if self.metric_note:
            return f"[yellow]{self.metric_note}[/yellow]"
        row = self._selected_row()
        if row is not None and row.diagnosis and row.diagnosis != "healthy":
            return f"[yellow]{row.name}: {row.diagnosis}[/yellow] {row.suggestion}".rstrip()
        return "[dim]enter: open · s: stop · p: promote the winner · q: quit[/dim]"

    def _selected_row(self):
        index = self.query_one(Leaderboard).selected
        return next((r for r in self.rows if r.index == index), None)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.query_one("#compare-note", Static).update(self._note())

    def _loss_series(self) -> list:
        return self._series(lambda c: c.history.smooth)

    def _metric_series(self) -> list:
        return self._series(lambda c: c.history.eval_metric)

    def _series(self, pick) -> list:
        """Each run's series, the selected run drawn last so it stays on top."""
        chosen = self.query_one(Leaderboard).selected
        order = sorted(range(len(self.candidates)), key=lambda i: i == chosen)
        return [(i, *pick(self.candidates[i]).arrays()) for i in order]

    # --- keys out --------------------------------------------------------------------------

    def _selected(self) -> Candidate | None:
        index = self.query_one(Leaderboard).selected
        return None if index is None else self.candidates[index]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        c = self._selected()
        if c is not None:
            self.app.push_screen(CandidateCockpit(c.path, self.app.watcher_factory(c.path)))

    def action_stop(self) -> None:
        c = self._selected()
        if c is None:
            return
        if c.over:
            why = c.state.status if c.state.finished else "the trainer died"
            self.notify(f"nothing to stop: {c.state.name} is over ({why})", severity="warning")
            return
        self.app.push_screen(ConfirmStop(), lambda yes: yes and self._stop(c))

    def _stop(self, c: Candidate) -> None:
        write_command(c.path, "stop")
        c.watcher.hurry()
        self.notify(f"asked {c.state.name} to stop (it saves a checkpoint first)")

    def action_promote(self) -> None:
        if not self.rows or self.rows[0].value is None:
            self.notify(f"no run has an eval {self.metric} yet: nothing to promote", severity="warning")
            return
        winner = self.candidates[self.rows[0].index]
        if not winner.over:
            self.notify(f"{winner.state.name} is still training: let it finish or stop it (s), then promote",
                        severity="warning")
            return
        done = winner.state.step
        default = 2 * max(winner.state.total_steps, done, 1)
        self.app.push_screen(StepsPrompt(winner.state.name, done, default),
                             lambda steps: steps and self._promote(winner, steps))

    def _promote(self, winner: Candidate, steps: int) -> None:
        try:
            self.launcher(winner.path, steps)
        except OSError as e:
            self.notify(f"could not start the resume: {e}", severity="error")
            return
        if self.sweep is not None:
            try:
                mark_winner(self.sweep, winner.path.name)
            except OSError as e:
                self.notify(f"the resume started, but sweep.json was not updated: {e}", severity="warning")
        self.notify(f"promoted {winner.state.name}: resuming up to step {steps}")
        self.app.push_screen(CandidateCockpit(winner.path, self.app.watcher_factory(winner.path), started_here=True))
