"""The ftui callback: the loop's hooks become events; commands become ``TrainerControl`` changes.

Usable in anyone's own HF Trainer script::

    trainer.add_callback(FtuiCallback("runs/my-run"))

There, with no ftui session around it, it also writes what the session would (script_run.py):
the pid file, the hardware heartbeat, run_start, progress between HF's log steps, the final
status and summary. It reads ``commands.jsonl`` at optimizer-step boundaries (the only place
HF reads control), acknowledges each command as an event, halts on a non-finite loss, tracks
the best checkpoint and stops early on a plateau. Only the world-process-zero writes events.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

from transformers import TrainerCallback

from ftui.rundir.events import EventLog
from ftui.rundir.layout import BEST_POINTER, RunDir, folder_size, list_checkpoints, write_atomic, write_pidfile

from .commanding import CommandReader, apply_lr_factor
from .distributed import global_rank
from .script_run import ScriptRun
from .stepsync import Decision, StepSync

PAUSE_POLL_S = 0.2
CHECKPOINT_STATE = "ftui_state.json"  # in each checkpoint: early stopping and best as of its step


# What HF adds to every evaluation's metrics besides the task's own: the eval event has duration_s.
HF_TIMINGS = ("runtime", "samples_per_second", "steps_per_second", "epoch")


class FtuiCallback(TrainerCallback):
    def __init__(self, run_dir, events: EventLog | None = None, metric: str = "accuracy",
                 patience: int = 0, min_delta: float = 0.0, tokens_per_sample: float | None = None,
                 standalone: bool | None = None):
        """``standalone`` (default: no ``events`` handed in) makes the callback write the run-level
        events itself; ftui's session hands in its event log and writes them instead."""
        self.run = RunDir(Path(run_dir))
        self.run.path.mkdir(parents=True, exist_ok=True)
        self.events = events or EventLog(self.run.events)
        self.metric = metric
        self.greater_is_better = metric != "loss"
        self.patience = patience
        self.min_delta = min_delta
        self.tokens_per_sample = tokens_per_sample
        self.commands = CommandReader(self.run.commands, self._emit)
        self.sync: StepSync | None = None
        self.trainer = None            # set by the session: FtuiTrainer for NaN and token counts
        self.stop_requested = False    # set by a signal handler (SIGTERM: checkpoint, then stop)
        self.halted_nan = False
        self.early_stopped = False
        self.best_value: float | None = None
        self.best_checkpoint: str | None = None
        self.last_eval: tuple[int, dict] | None = None
        self.last_save_step: int | None = None
        self._bad_evals = 0
        self._resume_state: dict | None = None
        self._save_after_eval = False
        self._pending_save_reason: str | None = None
        self._pause_after_save = False
        self._last_log = (0, time.monotonic(), 0)   # (step, time, tokens)
        self._paused_s = 0.0
        self.paused_total_s = 0.0
        self._step_started: float | None = None
        self._step_s = 0.0             # this rank's time inside steps since the last log
        self._started = time.monotonic()
        self._is_zero = True
        standalone = events is None if standalone is None else standalone
        self.script_run = ScriptRun(self) if standalone else None
        if standalone and global_rank() == 0:
            write_pidfile(self.run)  # the cockpit knows the script's process from the start

    # --- lifecycle ------------------------------------------------------------------------
    def on_train_begin(self, args, state, control, **kwargs):
        self._is_zero = state.is_world_process_zero
        self.sync = StepSync()
        if self._is_zero:
            self.commands.skip_existing()
        if self.script_run is not None:
            self.script_run.begin(args, state, kwargs)
        self._restore_best()
        self._last_log = (state.global_step, time.monotonic(), self._tokens())
        self._emit("status", state.global_step, status="running", message="")

    # --- each optimizer step: one decision, the same on every rank --------------------------
    def on_step_begin(self, args, state, control, **kwargs):
        self._step_started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self._step_started is not None:
            self._step_s += time.perf_counter() - self._step_started
        local = Decision(nan=float(self._local_nan()), stop=float(self.stop_requested))
        if self._is_zero:
            local = local.merge(self.commands.decide(state.global_step, kwargs.get("optimizer"), paused=False))
        decision = self.sync.exchange(local)
        if decision.nan:
            return self._halt_nan(state, control)
        self._apply(decision, args, state, control, kwargs)
        if self.script_run is not None:  # a plain script keeps its own evaluation and save plan
            self.script_run.progress(args, state, control, kwargs.get("optimizer"))
        elif state.global_step >= state.max_steps and self.last_eval_step != state.global_step:
            control.should_evaluate = True  # the last step always gets an evaluation and a checkpoint
            control.should_save = True
            self._pending_save_reason = self._pending_save_reason or "final"
        if control.should_save and self._pending_save_reason is None:
            self._pending_save_reason = "steps"
        if control.should_save and not control.should_evaluate and self._epoch_eval_follows(args, state):
            # HF would save before the epoch's evaluation: the checkpoint would miss that evaluation
            # (its metric, the patience count) and a resume from it would never run it.
            control.should_save, self._save_after_eval = False, True

    def _epoch_eval_follows(self, args, state) -> bool:
        """At an epoch's last step with once-an-epoch evaluation: on_epoch_end evaluates next."""
        at_end = bool(state.epoch) and float(state.epoch).is_integer()
        return at_end and args.eval_strategy == "epoch" and self.last_eval_step != state.global_step

    def on_train_end(self, args, state, control, **kwargs):
        if self.script_run is not None:
            self.script_run.end(args, state)

    def outcome(self) -> str:
        """How the training ended: finished, stopped (a command or a signal) or nan_halted."""
        return "nan_halted" if self.halted_nan else ("stopped" if self.stop_requested else "finished")

    def _apply(self, d: Decision, args, state, control, kwargs) -> None:
        self._act(d, control, kwargs)
        if d.pause and not d.stop:
            self._pause(args, state, control, kwargs)

    def _act(self, d: Decision, control, kwargs) -> None:
        """The parts of a decision that take effect at once: learning rate, stop, save."""
        if d.lr_factor:
            apply_lr_factor(d.lr_factor, kwargs.get("optimizer"), kwargs.get("lr_scheduler"))
        if d.stop:
            self._stop(control)
        elif d.save:
            control.should_save = True
            self._pending_save_reason = "command"

    def _pause(self, args, state, control, kwargs) -> None:
        """Holds every rank between steps; still answers resume, stop, save and set_lr."""
        self._emit("status", state.global_step, status="paused", message="")
        started = time.monotonic()
        while True:
            time.sleep(PAUSE_POLL_S)
            local = Decision(stop=float(self.stop_requested))
            if self._is_zero:
                local = local.merge(self.commands.decide(state.global_step, kwargs.get("optimizer"), paused=True))
            d = self.sync.exchange(local)  # every rank polls together, so no collective times out
            self._act(d, control, kwargs)
            if d.save and not d.stop:
                self._pause_after_save = not d.resume  # on_save pauses again after the checkpoint
            if d.stop or d.save or d.resume:
                break
        self._paused_s += time.monotonic() - started
        self.paused_total_s += time.monotonic() - started
        if d.resume and not d.stop:
            self._emit("status", state.global_step, status="running", message="")

    def on_epoch_end(self, args, state, control, **kwargs):
        if self._save_after_eval:  # the save on_step_end held back for this evaluation
            control.should_save, self._save_after_eval = True, False
        if self.halted_nan:
            control.should_evaluate = control.should_save = False
            return
        if self.last_eval_step == state.global_step:
            control.should_evaluate = False  # already evaluated at this step
        if self.last_save_step == state.global_step:
            control.should_save = False      # already saved at this step
        if control.should_save and self._pending_save_reason is None:
            self._pending_save_reason = "epoch"

    @property
    def last_eval_step(self) -> int | None:
        return self.last_eval[0] if self.last_eval else None

    # --- logs, evaluations, saves ---------------------------------------------------------
    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" not in logs:
            return
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
        if self.script_run is not None:
            self.script_run.logged()
        per_rank = self._per_rank_times(steps)
        self._emit("step", step, **per_rank, epoch=round(state.epoch or 0, 4), loss=_finite_or_str(loss),
                   lr=logs.get("learning_rate"), grad_norm=_finite_or_str(logs.get("grad_norm")),
                   samples_per_s=round(samples_per_s, 2),
                   tokens_per_s=round(tokens_per_s, 1) if tokens_per_s is not None else None,
                   eta_s=round(eta, 1) if eta is not None else None,
                   elapsed_s=round(now - self._started, 1), total_steps=state.max_steps)
        if not math.isfinite(loss) and not self.halted_nan:
            self._halt_nan(state, control, loss)

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

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        metrics = {k.removeprefix("eval_"): v for k, v in (metrics or {}).items()}
        shown = {k: v for k, v in metrics.items() if k not in HF_TIMINGS and isinstance(v, (int, float))}
        self.last_eval = (state.global_step, shown)
        self._emit("eval", state.global_step, epoch=round(state.epoch or 0, 4), metrics=shown,
                   duration_s=metrics.get("runtime"))
        value = shown.get(self.metric)
        if value is None or not self.patience:
            return
        if self._improves(value):
            self._bad_evals = 0
        else:
            self._bad_evals += 1
            if self._bad_evals >= self.patience:
                self._log(state.global_step, "info", f"early stopping: {self.metric} has not improved for {self._bad_evals} evaluations")
                control.should_training_stop = True
                control.should_save = True
                self.early_stopped = True

    def on_save(self, args, state, control, **kwargs):
        if self.halted_nan:
            return
        name = f"checkpoint-{state.global_step}"
        folder = Path(args.output_dir) / name
        value = self._value_at(state.global_step)
        best = value is not None and self._improves(value)
        if best:
            self.best_value, self.best_checkpoint = value, name
            if self._is_zero:
                write_atomic(Path(args.output_dir) / BEST_POINTER, json.dumps(
                    {"checkpoint": name, "metric": self.metric, "value": value, "step": state.global_step}))
        reason = self._pending_save_reason or "steps"
        self._emit("checkpoint", state.global_step, path=os.path.relpath(folder, self.run.path),
                   reason=reason, metric=self.metric, value=value, size_bytes=folder_size(folder), best=best)
        if self.script_run is not None and reason == "command":  # the script's own output_dir: say where
            self._log(state.global_step, "info", f"saved {name} in {os.path.abspath(args.output_dir)}")
        self._pending_save_reason = None
        self.last_save_step = state.global_step
        if self.trainer is not None and self._is_zero:
            self.trainer.rotate(protect={self.best_checkpoint} if self.best_checkpoint else set())
        if self._pause_after_save:
            self._pause_after_save = False
            self._pause(args, state, control, kwargs)

    def _value_at(self, step: int) -> float | None:
        """The tracked metric of the evaluation at ``step``, if there was one."""
        if self.last_eval and self.last_eval[0] == step:
            return self.last_eval[1].get(self.metric)
        return None

    def _improves(self, value: float) -> bool:
        if self.best_value is None:
            return True
        delta = value - self.best_value if self.greater_is_better else self.best_value - value
        return delta > self.min_delta

    def _stop(self, control) -> None:
        control.should_training_stop = True
        control.should_save = True
        self._pending_save_reason = "stop"
        self.stop_requested = True

    # --- NaN guard ------------------------------------------------------------------------
    def _halt_nan(self, state, control, loss: float | None = None) -> None:
        if self.halted_nan:
            return
        self.halted_nan = True
        if loss is None:  # found by the per-step check: log the step HF will not log
            mine = self.trainer.nonfinite_loss if self.trainer is not None else None
            loss = mine if mine is not None else "nan (on another rank)"
            self._emit("step", state.global_step, epoch=round(state.epoch or 0, 4), loss=str(loss),
                       total_steps=state.max_steps)
        control.should_training_stop = True
        control.should_save = control.should_evaluate = control.should_log = False
        kept = self.best_checkpoint or "none"
        self._log(state.global_step, "error", f"non-finite loss ({loss}) at step {state.global_step}: run halted; "
                           f"no checkpoint written after it (last good: {self._newest_checkpoint() or kept})")
        self._emit("status", state.global_step, status="nan_halted", message=f"loss {loss} at step {state.global_step}")

    def _local_nan(self) -> bool:
        return self.trainer is not None and self.trainer.nonfinite_loss is not None

    def _newest_checkpoint(self) -> str | None:
        found = list_checkpoints(self.run.checkpoints)
        return found[-1].name if found else None

    # --- resume ---------------------------------------------------------------------------
    def checkpoint_state(self, step: int) -> dict:
        """Early stopping and best tracking as they stand once the save at ``step`` is done: written
        into that checkpoint, so a resume from it goes on exactly (best.json may be newer)."""
        value = self._value_at(step)
        best = value is not None and self._improves(value)
        return {"bad_evals": self._bad_evals, "best_value": value if best else self.best_value,
                "best_checkpoint": f"checkpoint-{step}" if best else self.best_checkpoint,
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

    def _restore_best(self) -> None:
        """On resume, the best so far and the patience count come back from the checkpoint's state,
        else the best from best.json."""
        if self._resume_state is not None:
            kept = self._resume_state
            self._bad_evals, self.last_eval = kept["bad_evals"], kept["last_eval"]
            self.best_value, self.best_checkpoint = kept["best_value"], kept["best_checkpoint"]
            if self._is_zero and self.best_checkpoint:  # a fallback to an older checkpoint: re-point
                write_atomic(self.run.best_pointer, json.dumps(
                    {"checkpoint": self.best_checkpoint, "metric": self.metric, "value": self.best_value,
                     "step": int(self.best_checkpoint.rsplit("-", 1)[-1])}))
            return
        try:
            best = json.loads(self.run.best_pointer.read_text())
            self.best_value, self.best_checkpoint = best["value"], best["checkpoint"]
        except (OSError, ValueError, KeyError):
            pass

    # --- helpers --------------------------------------------------------------------------
    def _tokens(self) -> int | None:
        if self.trainer is None:
            return None
        return int(self.trainer.tokens_seen.item())  # a device sync, but only at log steps

    def _emit(self, kind: str, step: int, **fields) -> None:
        if self._is_zero:
            self.events.emit(kind, step, **fields)

    def _log(self, step: int, level: str, message: str) -> None:
        self._emit("log", step, level=level, message=message)


def _finite_or_str(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else str(value)
