"""Events out: the loop's hooks as step, eval, checkpoint, status and log events (world-process-zero only)."""

from __future__ import annotations

import math
import os
import time

from ftui.rundir.events import EventLog
from ftui.rundir.layout import RunDir, folder_size

from ..stepsync import StepSync

# What HF adds to every evaluation's metrics besides the task's own: the eval event has duration_s.
HF_TIMINGS = ("runtime", "samples_per_second", "steps_per_second", "epoch")


class EventsOut:
    """Writes the run's events; measures the rates, the ETA and each rank's step time between log steps."""

    def __init__(self, run: RunDir, log: EventLog, tokens_per_sample: float | None):
        self.run = run
        self.log = log
        self.tokens_per_sample = tokens_per_sample
        self.trainer = None            # FtuiTrainer, for the real-token count (None in a plain script)
        self.sync: StepSync | None = None
        self.is_zero = True
        self._last_log = (0, time.monotonic(), 0)   # (step, time, tokens)
        self._paused_s = 0.0           # paused since the last log step: not part of the rates
        self._step_started: float | None = None
        self._step_s = 0.0             # this rank's time inside steps since the last log
        self._started = time.monotonic()

    def emit(self, kind: str, step: int, **fields) -> None:
        if self.is_zero:
            self.log.emit(kind, step, **fields)

    def say(self, step: int, level: str, message: str) -> None:
        self.emit("log", step, level=level, message=message)

    def begin(self, step: int) -> None:
        self._last_log = (step, time.monotonic(), self._tokens())

    def step_began(self) -> None:
        self._step_started = time.perf_counter()

    def step_ended(self) -> None:
        if self._step_started is not None:
            self._step_s += time.perf_counter() - self._step_started

    def paused(self, seconds: float) -> None:
        self._paused_s += seconds

    def step(self, args, state, logs: dict) -> float:
        """The step event of an HF log step with a loss, with the rates since the last one; returns the loss."""
        loss = float(logs["loss"])
        step, now, tokens = state.global_step, time.monotonic(), self._tokens()
        last_step, last_t, last_tokens = self._last_log
        elapsed = max(now - last_t - self._paused_s, 1e-9)
        steps = step - last_step
        samples_per_s = steps * args.train_batch_size * args.gradient_accumulation_steps * args.world_size / elapsed
        # No tokens seen (images have no attention mask): no token rate rather than 0 tokens/s.
        tokens_per_s = (tokens - last_tokens) * args.world_size / elapsed if tokens else None
        if tokens_per_s is None and self.tokens_per_sample:
            tokens_per_s = samples_per_s * self.tokens_per_sample
        eta = (state.max_steps - step) * elapsed / steps if steps else None
        self._last_log, self._paused_s = (step, now, tokens), 0.0
        per_rank = self._per_rank_times(steps)
        self.emit("step", step, **per_rank, epoch=round(state.epoch or 0, 4), loss=_finite_or_str(loss),
                  lr=logs.get("learning_rate"), grad_norm=_finite_or_str(logs.get("grad_norm")),
                  samples_per_s=round(samples_per_s, 2),
                  tokens_per_s=round(tokens_per_s, 1) if tokens_per_s is not None else None,
                  eta_s=round(eta, 1) if eta is not None else None,
                  elapsed_s=round(now - self._started, 1), total_steps=state.max_steps)
        return loss

    def _per_rank_times(self, steps: int) -> dict:
        """Each rank's mean step time and time waiting at the step-boundary sync (log steps only).

        Ranks wait for the slowest one at every collective, so the rank that waits least is
        the straggler."""
        step_s, self._step_s = self._step_s, 0.0
        if self.sync is None or self.sync.world_size == 1 or not steps:
            return {}
        wait_s, self.sync.wait_s = self.sync.wait_s, 0.0
        return {"rank_step_s": [round(v, 4) for v in self.sync.gather(step_s / steps)],
                "rank_sync_s": [round(v, 5) for v in self.sync.gather(wait_s / steps)]}

    def evaluation(self, state, metrics: dict | None) -> dict:
        """The eval event; returns the task's own metrics (HF's eval_ prefix and timings dropped)."""
        metrics = {k.removeprefix("eval_"): v for k, v in (metrics or {}).items()}
        shown = {k: v for k, v in metrics.items() if k not in HF_TIMINGS and isinstance(v, (int, float))}
        self.emit("eval", state.global_step, epoch=round(state.epoch or 0, 4), metrics=shown,
                  duration_s=metrics.get("runtime"))
        return shown

    def checkpoint(self, step: int, folder, reason: str, metric: str, value, best: bool) -> None:
        self.emit("checkpoint", step, path=os.path.relpath(folder, self.run.path), reason=reason,
                  metric=metric, value=value, size_bytes=folder_size(folder), best=best)

    def _tokens(self) -> int | None:
        if self.trainer is None:
            return None
        return int(self.trainer.tokens_seen.item())  # a device sync, but only at log steps


def _finite_or_str(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else str(value)
