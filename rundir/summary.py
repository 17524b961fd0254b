"""The runs under a folder and one line of facts per run, for `ftui runs`, `ftui watch` and `ftui export`."""

from __future__ import annotations

from pathlib import Path

from .events import EventTail
from .layout import RunDir, is_run_dir
from .runstate import RunState


def list_runs(runs_dir: Path) -> list[RunDir]:
    """Run dirs under ``runs_dir``, the one changed last first (``last_changed``)."""
    if not runs_dir.is_dir():
        return []
    found = [RunDir(p) for p in runs_dir.iterdir() if is_run_dir(p)]
    return sorted(found, key=last_changed, reverse=True)


def newest_run(runs_dir: Path) -> RunDir | None:
    """The run changed last: what `ftui watch` and `ftui export` take when no run is named."""
    found = list_runs(runs_dir)
    return found[0] if found else None


def last_changed(run: RunDir) -> float:
    """When its event log or its folder last changed (a run just made has a folder and no log yet)."""
    times = []
    for path in (run.events, run.path):
        try:
            times.append(path.stat().st_mtime)
        except OSError:  # no log yet, or removed while we look
            pass
    return max(times, default=0.0)


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
        "skipped_events": state.skipped_events, "diagnosis": _diagnosis(state),
    }


def _diagnosis(state: RunState) -> dict | None:
    """The run's last diagnosis: the summary's, else the newest diagnosis event, else computed (older runs)."""
    if state.summary and state.summary.get("diagnosis"):
        return state.summary["diagnosis"]
    found = state.diagnosis
    return {k: found[k] for k in ("kind", "since_step", "evidence", "suggestion", "action") if k in found} if found else None
