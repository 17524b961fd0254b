"""The cockpit screen: one run's live state, and the keys that steer it.

The watcher (a plain thread) posts what it reads; this screen folds events into a RunState
(the model), hands each pane the part it shows (attributes down), and turns key presses into
lines in commands.jsonl. It never reads or waits on files itself, except appending a command.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer

from ftui.rundir.events import write_command
from ftui.rundir.runstate import RunState

from . import fmt
from .checkpoints_pane import CheckpointsPane
from .command_bar import CommandBar
from .command_tracker import CommandTracker
from .dialogs import ConfirmStop, LrPrompt, QuitPrompt
from .hardware_pane import HardwarePane
from .log_pane import LogPane
from .loss_chart import LossChart
from .messages import CockpitClosed, RunRead, TrainerHealth
from .metrics_pane import MetricsPane
from .run_header import RunHeader
from .watcher import verdict

COMPACT_BELOW = (100, 30)  # narrower or shorter than this: panes lose their side borders


def pause_or_resume(status: str, tracker: CommandTracker) -> str:
    """The command `p` sends: resume when paused (or a pause is still pending), else pause."""
    for c in reversed(list(tracker.commands.values())):
        if c.cmd in ("pause", "resume") and c.state == "pending":
            return "resume" if c.cmd == "pause" else "pause"
    return "resume" if status == "paused" else "pause"


class CockpitScreen(Screen):
    BINDINGS = [
        Binding("p", "pause", "pause/resume"),
        Binding("s", "save", "save"),
        Binding("x", "stop", "stop"),
        Binding("l", "lr", "set lr"),
        Binding("e", "export", "export"),
        Binding("d", "detach", "detach"),
        Binding("q", "quit_prompt", "quit"),
    ]

    def __init__(self, run_path: Path, watcher, started_here: bool = False) -> None:
        super().__init__()
        self.run_path = Path(run_path)
        self.watcher = watcher
        self.started_here = started_here
        self.state = RunState(name=self.run_path.name)
        self.tracker = CommandTracker()
        self.health = TrainerHealth(None, None, [])
        self._announced_end = False

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        with Horizontal(id="upper"):
            yield LossChart(id="chart")
            with Vertical(id="side"):
                yield MetricsPane(id="metrics")
                yield HardwarePane(id="hardware")
        with Horizontal(id="lower"):
            yield CheckpointsPane(id="checkpoints")
            yield LogPane(id="log")
        yield CommandBar(id="commands")
        yield Footer()

    def on_mount(self) -> None:
        titles = {"chart": "loss", "metrics": "metrics", "hardware": "hardware",
                  "checkpoints": "checkpoints", "log": "log"}
        for wid, title in titles.items():
            self.query_one(f"#{wid}").border_title = title
        self.watcher.start(self)
        self.set_interval(1.0, self.redraw)  # ages, elapsed and pending seconds tick
        self.redraw()

    def on_unmount(self) -> None:
        self.watcher.stop()

    def on_resize(self) -> None:
        w, h = self.size
        self.set_class(w < COMPACT_BELOW[0] or h < COMPACT_BELOW[1], "-compact")
        self.call_after_refresh(self.redraw)

    # --- data in ---------------------------------------------------------------------------

    def on_run_read(self, message: RunRead) -> None:
        chart = self.query_one(LossChart)
        hardware = self.query_one(HardwarePane)
        for event in message.events:
            self.state.apply(event)
            kind = event.get("type")
            if kind == "step":
                chart.history.add_step(event.get("step", 0), event.get("loss"))
            elif kind == "eval":
                chart.history.add_eval(event.get("step", 0), event.get("metrics") or {})
            elif kind == "run_start":
                chart.history.metric = self.state.metric_name
            elif kind == "hardware":
                hardware.history.add(event)
            elif kind == "ack":
                self.tracker.acked(event)
                chart.history.add_ack(event)
        for command in message.commands:
            self.tracker.sent(command)
        self.state.note_skipped(message.skipped, message.last_skip)
        chart.changed()
        self.redraw()

    def on_trainer_health(self, message: TrainerHealth) -> None:
        self.health = message
        self.redraw()

    @property
    def verdict(self) -> str:
        return verdict(self.state.status, self.health.alive, self.health.silent_s)

    def redraw(self) -> None:
        """Hands every pane its slice of the state; cheap enough to run on each batch."""
        state, v = self.state, self.verdict
        self.query_one(RunHeader).show(state, v)
        self.query_one(MetricsPane).show(state)
        self.query_one(HardwarePane).show()
        self.query_one(CheckpointsPane).show(state.checkpoints, state.best_checkpoint, self.health.on_disk)
        log = self.query_one(LogPane)
        if v == "died":
            log.show_tail(self._death_reason(), self.health.log_tail)
        elif not state.run_start and self.health.log_tail:
            log.show_tail("the trainer has not written an event yet; trainer.log says:", self.health.log_tail, False)
        elif not state.run_start:
            log.show_note("starting the trainer: loading torch, the model and the data…" if self.started_here
                          else "no events yet")
        else:
            log.show(state.logs)
        self.query_one(CommandBar).show(self.tracker.latest(3)[::-1], self._notice(v), f"run: {self.run_path}")
        if state.finished and not self._announced_end:
            self._announced_end = True
            self.refresh_bindings()
            if state.status == "finished":
                self.notify(f"{state.name} finished. {self._best_words()} Press e to export.", timeout=8)

    def _death_reason(self) -> str:
        if self.health.alive is False:
            return (f"✖ the trainer process is gone, but the run never said it ended "
                    f"(last status: {self.state.status}, step {self.state.step}).")
        return (f"✖ no event for {fmt.duration(self.health.silent_s)} and the trainer process "
                f"cannot be checked from here: it has most likely died.")

    def _best_words(self) -> str:
        s = self.state
        if not s.best_checkpoint:
            return "No checkpoint recorded."
        return f"Best: {Path(s.best_checkpoint).name} ({s.metric_name} {fmt.number(s.best_value, 4)})."

    def _notice(self, v: str) -> Text | None:
        s = self.state
        if v == "died":
            return Text("✖ trainer died: see the log pane; resume with ftui train --resume", style="bold red")
        if v == "silent":
            return Text(f"? no event for {fmt.duration(self.health.silent_s)}: busy or hung", style="bold yellow")
        if s.status == "finished":
            return Text(f"✔ finished. {self._best_words()} e: export", style="bold green")
        if s.status in ("failed", "nan_halted"):
            word = "NaN-halted" if s.status == "nan_halted" else "failed"
            return Text(f"✖ {word}: {s.status_message or 'see the log'}", style="bold red")
        if s.status == "stopped":
            return Text(f"■ stopped at step {s.step}. {self._best_words()}", style="bold yellow")
        if s.status == "paused":
            return Text("‖ paused: p resumes", style="bold yellow")
        return None

    # --- keys out --------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """Export shows in the footer only once the run is over; steering only while it runs."""
        if action == "export":
            return self.state.finished
        if action in ("pause", "save", "stop", "lr"):
            return not self.state.finished
        return True

    def _send(self, cmd: str, value: float | None = None, mode: str | None = None) -> bool:
        if self.state.finished or self.verdict == "died":
            why = self.state.status if self.state.finished else "the trainer died"
            self.notify(f"nothing to {cmd}: the run is over ({why})", severity="warning")
            return False
        try:
            command = write_command(self.run_path, cmd, value, mode)
        except ValueError as e:  # the schema refuses what the trainer would (a prompt checks first)
            self.notify(f"not sent: {e}", severity="warning")
            return False
        self.tracker.sent(command)
        self.watcher.hurry()
        self.redraw()
        return True

    def action_pause(self) -> None:
        self._send(pause_or_resume(self.state.status, self.tracker))

    def action_save(self) -> None:
        self._send("save")

    def action_stop(self) -> None:
        if not self.state.finished:
            self.app.push_screen(ConfirmStop(), lambda yes: yes and self._send("stop"))

    def action_lr(self) -> None:
        if not self.state.finished:
            self.app.push_screen(LrPrompt(self.state.lr), self._lr_chosen)

    def _lr_chosen(self, answer: tuple | None) -> None:
        if answer:
            value, mode = answer
            self._send("set_lr", value, mode)

    def action_export(self) -> None:
        if not self.state.finished:
            self.notify("export opens once the run has finished", severity="warning")
            return
        from .export_screen import ExportScreen

        self.app.push_screen(ExportScreen(self.run_path, self.state))

    def action_detach(self) -> None:
        self.post_message(CockpitClosed("quit" if self.state.finished else "detached"))

    def action_quit_prompt(self) -> None:
        if self.state.finished or self.verdict == "died":
            self.post_message(CockpitClosed("quit"))
            return
        self.app.push_screen(QuitPrompt(), self._quit_chosen)

    def _quit_chosen(self, answer: str | None) -> None:
        if answer == "detach":
            self.post_message(CockpitClosed("detached"))
        elif answer == "stop" and self._send("stop"):
            self.post_message(CockpitClosed("stopped"))
