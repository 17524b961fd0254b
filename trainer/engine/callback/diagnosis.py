"""Diagnosis out: after each evaluation, the run's diagnosis (rundir/diagnosis.py) as a ``diagnosis``
event, written only when its kind changes ("healthy" ends an earlier one)."""

from __future__ import annotations

from ftui.rundir.diagnosis import Diagnoser, Diagnosis
from ftui.rundir.events import EventLog

from .events import EventsOut


class DiagnosisOut:
    """Sees every event the run's log writes (the session's run_start too) and judges after each eval."""

    def __init__(self, out: EventsOut):
        self.out = out
        self.diagnoser = Diagnoser()
        self.last: Diagnosis | None = None   # the last one written: what the summary keeps
        if isinstance(out.log, EventLog):     # rank 0's log only: other ranks write nothing
            out.log.listeners.append(self._seen)

    def _seen(self, event: dict) -> None:
        if event.get("type") in ("run_start", "step"):
            self.diagnoser.feed(event)

    def evaluated(self, step: int, metrics: dict) -> None:
        """Judges the evaluation just written; writes the diagnosis when it changed."""
        change = self.diagnoser.feed({"type": "eval", "t": 0, "step": step, "metrics": metrics})
        if change is not None:
            self.last = change
            if self.out.is_zero:  # EventsOut.emit's own first parameter is named "kind"
                self.out.log.emit("diagnosis", step, **change.fields())

    def summary(self) -> dict:
        """The summary's ``diagnosis`` field: the last diagnosis written, or nothing."""
        return {"diagnosis": self.last.fields()} if self.last is not None else {}
