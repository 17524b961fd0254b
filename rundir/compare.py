"""Several runs side by side: which folders `ftui watch` compares, the leaderboard's order and
facts, and a sweep folder's ``sweep.json`` (through rundir.sweep; unreadable means no annotations).

Standard library only: the compare screen renders what ``standings`` returns, and a test or a
notebook can rank the same runs without Textual.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .errors import RunDirError
from .layout import RunDir, is_run_dir, open_run
from .runstate import RunState
from .sweep import Sweep, read_sweep as read_sweep_strict, write_sweep


@dataclass
class Comparison:
    """The runs to compare, in the order given (or sweep.json's), and the sweep folder if one was named."""

    runs: list
    sweep: Path | None = None


def resolve_targets(paths: list[str]) -> Comparison:
    """What `ftui watch PATH...` names: one run dir (the normal cockpit), one folder whose
    subfolders are run dirs (a sweep), or several run dirs. A one-line RunDirError otherwise."""
    if len(paths) == 1 and not is_run_dir(paths[0]) and Path(paths[0]).is_dir():
        return _sweep_folder(Path(paths[0]))
    runs, seen = [], set()
    for path in paths:
        run = open_run(path)
        key = run.path.resolve()
        if key not in seen:
            seen.add(key)
            runs.append(run)
    return Comparison(runs)


def _sweep_folder(folder: Path) -> Comparison:
    sweep = read_sweep(folder)
    runs = sweep_runs(folder, sweep)
    if not runs and sweep is None:
        raise RunDirError(f"{folder}: not a run directory, and no run directories in it")
    return Comparison(runs, folder)  # a sweep whose first candidate has not started yet: an empty board


def sweep_runs(folder: Path, sweep: Sweep | None) -> list[RunDir]:
    """The run dirs in a sweep folder now, in the candidate order of ``sweep`` (its sweep.json; None:
    none), then any others by name."""
    try:
        found = {p.name: RunDir(p) for p in sorted(Path(folder).iterdir()) if is_run_dir(p)}
    except OSError:
        return []
    order = [c.run for c in sweep.candidates] if sweep else []
    ranked = [found.pop(name) for name in order if name in found]
    return ranked + list(found.values())


def pending_candidates(sweep: Sweep | None, started: set[str]) -> list[str]:
    """Names of sweep.json's candidates whose run folder does not exist yet (waiting their turn)."""
    return [c.name for c in sweep.candidates if c.run not in started and c.status == "pending"] if sweep else []


def read_sweep(folder: Path) -> Sweep | None:
    """``sweep.json`` (rundir.sweep's strict reader), or None when absent or unreadable: the compare
    screen works without it, so a broken one only loses the sweep's annotations."""
    try:
        return read_sweep_strict(folder)
    except RunDirError:
        return None


def mark_winner(folder: Path, run_name: str) -> bool:
    """Names the candidate whose run folder is ``run_name`` the sweep's winner, keeping every other
    field as it was; False (and nothing written) when there is no readable sweep.json."""
    sweep = read_sweep(folder)
    if sweep is None:
        return False
    sweep.winner = next((c.name for c in sweep.candidates if c.run == run_name), run_name)
    write_sweep(folder, sweep)
    return True


def greater_is_better(metric: str) -> bool:
    """As the trainer's best-checkpoint tracker decides: only a loss is lower-is-better."""
    return metric != "loss"


@dataclass
class Standing:
    """One row of the leaderboard: a run's facts, in plain values (None: not reported yet)."""

    index: int                     # the run's place in the list given: its colour, whatever its rank
    name: str
    status: str
    step: int
    total_steps: int
    value: float | None            # its best value of the ranking metric
    best_step: int | None
    samples_per_s: float | None
    params_trainable: int | None
    checkpoint_bytes: int | None   # the best checkpoint's size, else the newest one's
    diagnosis: str | None          # the last diagnosis' kind
    suggestion: str = ""


def best_of(state: RunState, metric: str, greater: bool) -> tuple[float | None, int | None]:
    """The best finite value of ``metric`` over the run's evals and the step it came at; the
    best checkpoint's value when no eval carries the metric (a run rebuilt from its summary)."""
    best: tuple[float | None, int | None] = (None, None)
    for step, metrics in state.evals:
        value = metrics.get(metric)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        if best[0] is None or (value > best[0] if greater else value < best[0]):
            best = (float(value), step)
    if best[0] is None and state.metric_name == metric and state.best_value is not None \
            and math.isfinite(state.best_value):
        best = (float(state.best_value), state.best_step)
    return best


def _checkpoint_bytes(state: RunState) -> int | None:
    chosen = [c for c in state.checkpoints if c.get("best")] or state.checkpoints
    for c in reversed(chosen):
        if isinstance(c.get("size_bytes"), int):
            return c["size_bytes"]
    return None


def standing(index: int, state: RunState, metric: str, greater: bool, status: str | None = None) -> Standing:
    value, step = best_of(state, metric, greater)
    trainable = state.run_start.get("params_trainable")
    diagnosis = state.diagnosis or {}
    return Standing(index, state.name, status or state.status, state.step, state.total_steps, value, step,
                    state.samples_per_s, trainable if isinstance(trainable, int) else None,
                    _checkpoint_bytes(state), diagnosis.get("kind"), diagnosis.get("suggestion") or "")


def ranking_metric(states: list[RunState], sweep: Sweep | None = None) -> tuple[str, bool, str]:
    """The metric that ranks, whether more is better, and a note when the runs disagree: the sweep's
    metric if it names one, else the first run's recipe metric (its run_start's ``metric``)."""
    if sweep and sweep.metric:
        metric, greater = sweep.metric, sweep.greater_is_better
    else:
        metric = next((s.metric_name for s in states if s.run_start), states[0].metric_name if states else "accuracy")
        greater = greater_is_better(metric)
    others = sorted({s.metric_name for s in states if s.run_start and s.metric_name != metric})
    note = f"runs track different metrics ({', '.join(others)}); ranked by {metric}" if others else ""
    return metric, greater, note


def standings(states: list[RunState], metric: str, greater: bool, statuses: list | None = None) -> list[Standing]:
    """Best first; runs with no value of the metric yet last, in the order given."""
    rows = [standing(i, s, metric, greater, statuses[i] if statuses else None) for i, s in enumerate(states)]
    sign = -1.0 if greater else 1.0
    return sorted(rows, key=lambda r: (r.value is None, sign * r.value if r.value is not None else 0.0, r.index))
