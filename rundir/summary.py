"""One line of facts per run for `ftui runs`: folds the event log (no torch)."""

from __future__ import annotations

from .events import EventTail
from .layout import RunDir
from .runstate import RunState



def summarize(run: RunDir) -> dict:
    """The row of `ftui runs` (and `--json`); lines of the log no reader can use count in skipped_events."""
    state = RunState(name=run.name).read(EventTail(run.events))
    alive = run.trainer_alive()
    status = state.status
    if not state.finished and alive is False:
        status = "died"  # the trainer is gone but never wrote a final status
    return {
        "name": run.name, "path": str(run.path), "status": status, "live": bool(alive) and not state.finished,
        "step": state.step, "total_steps": state.total_steps, "metric": state.metric_name,
        "best_value": state.best_value, "best_checkpoint": state.best_checkpoint, "updated": state.last_t,
        "model": state.model, "task": state.task, "strategy": state.run_start.get("strategy", ""),
        "skipped_events": state.skipped_events,
    }
