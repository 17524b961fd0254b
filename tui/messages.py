"""Messages the cockpit's parts send up: from the watcher thread to the screen, and from
screens to the app. One small module so every message is findable in one place."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.message import Message


@dataclass
class RunRead(Message):
    """New lines from the run directory: events the trainer wrote, commands any UI wrote, and
    how many event lines were skipped as unreadable (with the last one's reason)."""

    events: list = field(default_factory=list)
    commands: list = field(default_factory=list)
    skipped: int = 0
    last_skip: str | None = None


@dataclass
class TrainerHealth(Message):
    """Whether the trainer process lives, how long since its last event, which checkpoints are
    on disk, and (when it looks dead or silent) the last lines of trainer.log. Only the newest
    one matters."""

    alive: bool | None
    silent_s: float | None
    log_tail: list = field(default_factory=list)
    on_disk: frozenset | None = None  # checkpoint folder names present now (rotation deletes some)

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TrainerHealth)


@dataclass
class CockpitClosed(Message):
    """The user left the cockpit: "detached" (the run goes on), "stopped" or "quit"."""

    reason: str


@dataclass
class OpenRun(Message):
    """The home screen asks for the cockpit on a run (``started_here``: we just spawned it)."""

    path: object
    started_here: bool = False


@dataclass
class ExportProgress(Message):
    """The export worker reached a stage (load, validate, export, optimize, quantize, benchmark, done)."""

    stage: str
    detail: str
    elapsed_s: float


@dataclass
class ExportFinished(Message):
    """The export ran to its end: the report says whether every gate passed."""

    report: object  # ftui.export.report.ExportReport


@dataclass
class ExportFailed(Message):
    """The export stopped: a one-line reason, and a traceback only for an unexpected error."""

    error: str
    traceback: str = ""


@dataclass
class CandidateRead(Message):
    """What one run's watcher posted (a RunRead or a TrainerHealth), tagged with the run's place in
    the compare screen's list: one screen, one watcher per run. Only the newest health counts."""

    index: int
    message: Message

    def can_replace(self, message: Message) -> bool:
        return (isinstance(message, CandidateRead) and message.index == self.index
                and isinstance(self.message, TrainerHealth) and isinstance(message.message, TrainerHealth))
