"""Folds a run's events into its current state: what `ftui runs` lists and the TUI shows.

Pure Python over plain dicts, no torch: feed events in order with ``apply``. Events from an
``EventTail`` arrive schema-checked; any other dict is checked here, so a malformed one is
counted in ``skipped_events`` and changes nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .diagnosis import Diagnoser, diagnosis_line
from .events import EventTail
from .events_schema import FINAL_STATUSES, Event, Invalid, check_event


@dataclass
class RunState:
    name: str = ""
    status: str = "starting"
    status_message: str = ""
    step: int = 0
    total_steps: int = 0
    epoch: float = 0.0
    epochs: float = 0.0
    started_t: float | None = None
    last_t: float | None = None
    model: str = ""
    task: str = ""
    labels: list = field(default_factory=list)
    metric_name: str = "accuracy"
    train_loss: list = field(default_factory=list)      # [(step, loss)]
    evals: list = field(default_factory=list)           # [(step, {"loss":..,"accuracy":..})]
    lr: float | None = None
    grad_norm: float | None = None
    samples_per_s: float | None = None
    tokens_per_s: float | None = None
    eta_s: float | None = None
    rank_step_s: list | None = None                     # per-rank step time (multi-process runs)
    best_value: float | None = None
    best_step: int | None = None
    best_checkpoint: str | None = None
    checkpoints: list = field(default_factory=list)     # checkpoint events
    hardware: dict | None = None
    logs: list = field(default_factory=list)            # log events, acks and diagnoses as lines (last 500)
    acks: dict = field(default_factory=dict)            # command id -> ack event
    run_start: dict = field(default_factory=dict)
    summary: dict | None = None
    diagnoses: list = field(default_factory=list)       # diagnosis events, in order (last 100)
    diagnoser: Diagnoser = field(default_factory=Diagnoser, repr=False)  # for runs that wrote none
    skipped_events: int = 0                             # lines of the log no reader could use

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES

    def apply(self, event: dict) -> None:
        if not isinstance(event, Event):
            try:
                event = check_event(event)
            except Invalid as e:
                self.note_skipped(1, str(e))
                return
        kind = event.get("type")
        self.last_t = event.get("t", self.last_t)
        if "step" in event and kind != "hardware":
            self.step = max(self.step, int(event["step"] or 0)) if kind != "run_start" else int(event["step"] or 0)
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            handler(event)
        if kind in ("run_start", "step", "eval") and not self.diagnoses:
            self.diagnoser.feed(event)

    @property
    def diagnosis(self) -> dict | None:
        """The current diagnosis (the diagnosis event's fields), None when healthy: the last one the
        trainer wrote; for a run that wrote none (an older ftui), what the same rules say of its events."""
        if self.diagnoses:
            last = self.diagnoses[-1]
            return None if last.get("kind") == "healthy" else last
        current = self.diagnoser.current
        return {"step": current.since_step, **current.fields(), "computed": True} if current else None

    def note_skipped(self, count: int, reason: str | None) -> None:
        """Counts events no reader could use and says so once per batch in the log pane."""
        if count <= 0:
            return
        self.skipped_events += count
        self.logs.append({"type": "log", "level": "warning", "t": self.last_t or 0, "step": self.step,
                          "message": f"skipped {self.skipped_events} unreadable event(s) in events.jsonl"
                                     + (f"; the last: {reason}" if reason else "")})
        del self.logs[:-500]

    def read(self, tail: EventTail) -> "RunState":
        """Applies what ``tail`` has read since the last call, counting the lines it skipped."""
        before = tail.skipped
        for event in tail.read_new():
            self.apply(event)
        self.note_skipped(tail.skipped - before, tail.last_skip)
        return self

    def _on_run_start(self, e: dict) -> None:
        if e.get("resumed_from"):
            # Steps after the checkpoint were lost with the old process and will be redone.
            resumed = int(e.get("step") or 0)
            self.train_loss = [p for p in self.train_loss if p[0] <= resumed]
            self.evals = [p for p in self.evals if p[0] <= resumed]
            self.step = resumed
        self.run_start = e
        self.started_t = self.started_t or e.get("t")
        self.name = e.get("run", self.name)
        self.model = e.get("model", "")
        self.task = e.get("task", "")
        self.labels = list(e.get("labels", []))
        self.total_steps = int(e.get("total_steps") or 0)
        self.epochs = float(e.get("epochs") or 0)
        self.metric_name = e.get("metric", self.metric_name)

    def _on_step(self, e: dict) -> None:
        if e.get("loss") is not None:
            self.train_loss.append((e["step"], e["loss"]))
        for key in ("lr", "grad_norm", "samples_per_s", "tokens_per_s", "eta_s", "rank_step_s"):
            if e.get(key) is not None:
                setattr(self, key, e[key])
        self.epoch = e.get("epoch", self.epoch)
        self.total_steps = int(e.get("total_steps") or self.total_steps)

    def _on_eval(self, e: dict) -> None:
        metrics = e.get("metrics", {})
        self.evals.append((e["step"], metrics))
        self.epoch = e.get("epoch", self.epoch)

    def _on_checkpoint(self, e: dict) -> None:
        self.checkpoints.append(e)
        if e.get("best"):
            self.best_value = e.get("value")
            self.best_step = e.get("step")
            self.best_checkpoint = e.get("path")

    def _on_status(self, e: dict) -> None:
        self.status = e.get("status", self.status)
        self.status_message = e.get("message", "")

    def _on_hardware(self, e: dict) -> None:
        self.hardware = e

    def _on_log(self, e: dict) -> None:
        self._line(e)

    def _line(self, e: dict) -> None:
        self.logs.append(e)
        del self.logs[:-500]

    def _on_ack(self, e: dict) -> None:
        self.acks[e.get("id")] = e
        said = f": {e['message']}" if e.get("message") else ""
        self._line({"type": "log", "level": "info" if e["ok"] else "warning", "t": e.get("t", 0), "step": e["step"],
                    "message": f"command {e.get('cmd', '?')} at step {e['step']} {'ok' if e['ok'] else 'refused'}{said}"})

    def _on_summary(self, e: dict) -> None:
        self.summary = e

    def _on_diagnosis(self, e: dict) -> None:
        self.diagnoses.append(e)
        del self.diagnoses[:-100]
        self._line({"type": "log", "level": "info" if e["kind"] == "healthy" else "warning", "t": e.get("t", 0),
                    "step": e["step"], "message": diagnosis_line(e)})


def fold(events) -> RunState:
    state = RunState()
    for event in events:
        state.apply(event)
    return state
