"""Several runs side by side: which folders `ftui watch` compares, the leaderboard's order and
facts, and a sweep folder's ``sweep.json`` (read tolerantly, the winner marked atomically).

Standard library only: the compare screen renders what ``standings`` returns, and a test or a
notebook can rank the same runs without Textual.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from .errors import RunDirError
from .layout import RunDir, is_run_dir, open_run, write_atomic
from .runstate import RunState

SWEEP_FILE = "sweep.json"


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
    found = {p.name: RunDir(p) for p in sorted(folder.iterdir()) if is_run_dir(p)}
    if not found:
        raise RunDirError(f"{folder}: not a run directory, and no run directories in it")
    order = [c.get("run") for c in (read_sweep(folder) or {}).get("candidates", [])]
    ranked = [found.pop(name) for name in order if isinstance(name, str) and name in found]
    return Comparison(ranked + list(found.values()), folder)


def read_sweep(folder: Path) -> dict | None:
    """``sweep.json`` as a dict with a list of candidate dicts, or None when absent or unreadable:
    the compare screen works without it, so a broken one only loses the sweep's annotations."""
    try:
        data = json.loads((Path(folder) / SWEEP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("format", "ftui-sweep") != "ftui-sweep":
        return None
    candidates = data.get("candidates")
    data["candidates"] = [c for c in candidates if isinstance(c, dict)] if isinstance(candidates, list) else []
    return data


def mark_winner(folder: Path, run_name: str) -> bool:
    """Names the candidate whose run folder is ``run_name`` the sweep's winner, keeping every other
    field as it was; False (and nothing written) when there is no readable sweep.json."""
    data = read_sweep(folder)
    if data is None:
        return False
    winner = next((c.get("name") for c in data["candidates"] if c.get("run") == run_name), None)
    data["winner"] = winner if isinstance(winner, str) else run_name
    write_atomic(Path(folder) / SWEEP_FILE, json.dumps(data, indent=2) + "\n")
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


def ranking_metric(states: list[RunState], sweep: dict | None = None) -> tuple[str, bool, str]:
    """The metric that ranks, whether more is better, and a note when the runs disagree: the sweep's
    metric if it names one, else the first run's recipe metric (its run_start's ``metric``)."""
    if sweep and isinstance(sweep.get("metric"), str) and sweep["metric"]:
        metric = sweep["metric"]
        greater = sweep.get("greater_is_better")
        greater = greater if isinstance(greater, bool) else greater_is_better(metric)
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
