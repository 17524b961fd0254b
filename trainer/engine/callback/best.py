"""The best checkpoint and early stopping: the tracked metric, best.json, the patience count, and
their state in each checkpoint (``ftui_state.json``) so a resume goes on exactly."""

from __future__ import annotations

import json
from pathlib import Path

from ftui.rundir.checkpoints import CHECKPOINT_STATE  # in each checkpoint: early stopping and best as of its step
from ftui.rundir.layout import BEST_POINTER, RunDir, write_atomic


class BestTracker:
    """Follows the metric over evaluations: which checkpoint is best, and when patience runs out."""

    def __init__(self, run: RunDir, metric: str, patience: int, min_delta: float):
        self.run = run
        self.metric = metric
        self.greater_is_better = metric != "loss"
        self.patience = patience
        self.min_delta = min_delta
        self.value: float | None = None
        self.checkpoint: str | None = None
        self.last_eval: tuple[int, dict] | None = None
        self.early_stopped = False
        self.bad_evals = 0
        self._resume_state: dict | None = None

    @property
    def last_eval_step(self) -> int | None:
        return self.last_eval[0] if self.last_eval else None

    def evaluated(self, step: int, shown: dict) -> bool:
        """Records an evaluation; True when patience has just run out (the caller stops the run)."""
        self.last_eval = (step, shown)
        value = shown.get(self.metric)
        if value is None or not self.patience:
            return False
        if self._improves(value):
            self.bad_evals = 0
            return False
        self.bad_evals += 1
        if self.bad_evals < self.patience:
            return False
        self.early_stopped = True
        return True

    def saved(self, step: int, output_dir, write: bool) -> tuple[float | None, bool]:
        """The checkpoint at ``step`` is written: its metric value and whether it is the new best
        (then best.json points at it, where ``write``: on the world-process-zero)."""
        value = self.value_at(step)
        best = value is not None and self._improves(value)
        if best:
            self.value, self.checkpoint = value, f"checkpoint-{step}"
            if write:
                write_atomic(Path(output_dir) / BEST_POINTER, json.dumps(
                    {"checkpoint": self.checkpoint, "metric": self.metric, "value": value, "step": step}))
        return value, best

    def value_at(self, step: int) -> float | None:
        """The tracked metric of the evaluation at ``step``, if there was one."""
        if self.last_eval and self.last_eval[0] == step:
            return self.last_eval[1].get(self.metric)
        return None

    def _improves(self, value: float) -> bool:
        if self.value is None:
            return True
        delta = value - self.value if self.greater_is_better else self.value - value
        return delta > self.min_delta

    # --- resume ---------------------------------------------------------------------------
    def checkpoint_state(self, step: int) -> dict:
        """Early stopping and best tracking as they stand once the save at ``step`` is done: written
        into that checkpoint, so a resume from it goes on exactly (best.json may be newer)."""
        value = self.value_at(step)
        best = value is not None and self._improves(value)
        return {"bad_evals": self.bad_evals, "best_value": value if best else self.value,
                "best_checkpoint": f"checkpoint-{step}" if best else self.checkpoint,
                "last_eval": list(self.last_eval) if self.last_eval else None}

    def restore_checkpoint_state(self, folder) -> None:
        """Resume from ``folder``: takes the state ``checkpoint_state`` wrote there (older
        checkpoints have none: then best.json and a fresh patience count, as before)."""
        try:
            state = json.loads((Path(folder) / CHECKPOINT_STATE).read_text())
            last = state["last_eval"]
            self._resume_state = {
                "bad_evals": int(state["bad_evals"]),
                "best_value": None if state["best_value"] is None else float(state["best_value"]),
                "best_checkpoint": None if state["best_checkpoint"] is None else str(state["best_checkpoint"]),
                "last_eval": (int(last[0]), dict(last[1])) if last else None}
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            self._resume_state = None

    def restore(self, write: bool) -> None:
        """On resume, the best so far and the patience count come back from the checkpoint's state,
        else the best from best.json."""
        if self._resume_state is not None:
            kept = self._resume_state
            self.bad_evals, self.last_eval = kept["bad_evals"], kept["last_eval"]
            self.value, self.checkpoint = kept["best_value"], kept["best_checkpoint"]
            if write and self.checkpoint:  # a fallback to an older checkpoint: re-point
                write_atomic(self.run.best_pointer, json.dumps(
                    {"checkpoint": self.checkpoint, "metric": self.metric, "value": self.value,
                     "step": int(self.checkpoint.rsplit("-", 1)[-1])}))
            return
        try:
            best = json.loads(self.run.best_pointer.read_text())
            self.value, self.checkpoint = best["value"], best["checkpoint"]
        except (OSError, ValueError, KeyError):
            pass
