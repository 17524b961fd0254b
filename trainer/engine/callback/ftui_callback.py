"""The ftui callback: the loop's hooks become events; commands become ``TrainerControl`` changes.

Usable in anyone's own HF Trainer script::

    trainer.add_callback(FtuiCallback("runs/my-run"))

There, with no ftui session around it, it also writes what the session would (script_run.py):
the pid file, the hardware heartbeat, run_start, progress between HF's log steps, the final
status and summary. It reads ``commands.jsonl`` at optimizer-step boundaries (the only place
HF reads control), acknowledges each command as an event, halts on a non-finite loss, tracks
the best checkpoint and stops early on a plateau. Only the world-process-zero writes events.

Each concern is its own part, and this class hands every hook to them: ``EventsOut``
(events.py), ``Steering`` (steering.py: commands, the save plan, the NaN guard),
``BestTracker`` (best.py: best checkpoint, early stopping, their state for resume) and
``DiagnosisOut`` (diagnosis.py: overfitting, diverging, ... as ``diagnosis`` events).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from transformers import TrainerCallback

from ftui.rundir.events import EventLog
from ftui.rundir.layout import RunDir, list_checkpoints, write_pidfile

from ..distributed import global_rank
from ..script_run import ScriptRun
from ..stepsync import StepSync
from .best import BestTracker
from .diagnosis import DiagnosisOut
from .events import EventsOut
from .steering import Steering


class FtuiCallback(TrainerCallback):
    def __init__(self, run_dir, events: EventLog | None = None, metric: str = "accuracy",
                 patience: int = 0, min_delta: float = 0.0, tokens_per_sample: float | None = None,
                 standalone: bool | None = None):
        """``standalone`` (default: no ``events`` handed in) makes the callback write the run-level
        events itself; ftui's session hands in its event log and writes them instead."""
        self.run = RunDir(Path(run_dir))
        self.run.path.mkdir(parents=True, exist_ok=True)
        self.events = events or EventLog(self.run.events)
        self.out = EventsOut(self.run, self.events, tokens_per_sample)
        self.steering = Steering(self.run.commands, self.out)
        self.best = BestTracker(self.run, metric, patience, min_delta)
        self.diagnosis = DiagnosisOut(self.out)
        self._trainer = None
        self._is_zero = True
        standalone = events is None if standalone is None else standalone
        self.script_run = ScriptRun(self) if standalone else None
        if standalone and global_rank() == 0:
            write_pidfile(self.run)  # the cockpit knows the script's process from the start

    # --- what the session, the script run and FtuiTrainer read --------------------------------
    @property
    def trainer(self):
        """FtuiTrainer, set by the session: the NaN check, real-token counts, checkpoint rotation."""
        return self._trainer

    @trainer.setter
    def trainer(self, trainer) -> None:
        self._trainer = self.out.trainer = self.steering.trainer = trainer

    @property
    def stop_requested(self) -> bool:
        return self.steering.stop_requested

    @stop_requested.setter
    def stop_requested(self, value: bool) -> None:  # a signal handler: checkpoint, then stop
        self.steering.stop_requested = value

    halted_nan = property(lambda self: self.steering.halted_nan)
    commands = property(lambda self: self.steering.commands)
    sync = property(lambda self: self.steering.sync)
    paused_total_s = property(lambda self: self.steering.paused_total_s)
    metric = property(lambda self: self.best.metric)
    best_value = property(lambda self: self.best.value)
    best_checkpoint = property(lambda self: self.best.checkpoint)
    last_eval = property(lambda self: self.best.last_eval)
    last_eval_step = property(lambda self: self.best.last_eval_step)
    early_stopped = property(lambda self: self.best.early_stopped)

    def outcome(self) -> str:
        """How the training ended: finished, stopped (a command or a signal) or nan_halted."""
        return self.steering.outcome()

    def checkpoint_state(self, step: int) -> dict:
        """What goes into the checkpoint at ``step`` (ftui_state.json) for an exact resume."""
        return self.best.checkpoint_state(step)

    def restore_checkpoint_state(self, folder) -> None:
        self.best.restore_checkpoint_state(folder)

    # --- lifecycle ------------------------------------------------------------------------
    def on_train_begin(self, args, state, control, **kwargs):
        self._is_zero = self.out.is_zero = self.steering.is_zero = state.is_world_process_zero
        sync = StepSync()
        self.out.sync = sync
        self.steering.begin(sync)
        if self.script_run is not None:
            self.script_run.begin(args, state, kwargs)
        self.best.restore(write=self._is_zero)
        self.out.begin(state.global_step)
        self._emit("status", state.global_step, status="running", message="")

    def on_step_begin(self, args, state, control, **kwargs):
        self.out.step_began()

    def on_step_end(self, args, state, control, **kwargs):
        self.out.step_ended()
        if not self.steering.step_ended(state, control, kwargs):
            return self._halt_nan(state, control)
        if self.script_run is not None:  # a plain script keeps its own evaluation and save plan
            self.script_run.progress(args, state, control, kwargs.get("optimizer"))
        self.steering.plan_saves(args, state, control, self.last_eval_step, own_plan=self.script_run is not None)

    def on_epoch_end(self, args, state, control, **kwargs):
        self.steering.epoch_ended(state, control, self.last_eval_step)

    def on_train_end(self, args, state, control, **kwargs):
        if self.script_run is not None:
            self.script_run.end(args, state)

    # --- logs, evaluations, saves ---------------------------------------------------------
    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" not in logs:
            return
        loss = self.out.step(args, state, logs)
        if self.script_run is not None:
            self.script_run.logged()
        if not math.isfinite(loss) and not self.halted_nan:
            self._halt_nan(state, control, loss)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        shown = self.out.evaluation(state, metrics)
        if self._is_zero:
            self.diagnosis.evaluated(state.global_step, shown)
        if self.best.evaluated(state.global_step, shown):
            self._log(state.global_step, "info",
                      f"early stopping: {self.metric} has not improved for {self.best.bad_evals} evaluations")
            control.should_training_stop = True
            control.should_save = True

    def on_save(self, args, state, control, **kwargs):
        if self.halted_nan:
            return
        name = f"checkpoint-{state.global_step}"
        value, best = self.best.saved(state.global_step, args.output_dir, write=self._is_zero)
        reason = self.steering.saved(state.global_step)
        self.out.checkpoint(state.global_step, Path(args.output_dir) / name, reason, self.metric, value, best)
        if self.script_run is not None and reason == "command":  # the script's own output_dir: say where
            self._log(state.global_step, "info", f"saved {name} in {os.path.abspath(args.output_dir)}")
        if self.trainer is not None and self._is_zero:
            self.trainer.rotate(protect={self.best_checkpoint} if self.best_checkpoint else set())
        if self.steering.pause_after_save:
            self.steering.pause_after_save = False
            self.steering.pause(state, control, kwargs)

    # --- helpers --------------------------------------------------------------------------
    def _halt_nan(self, state, control, loss: float | None = None) -> None:
        self.steering.halt_nan(state, control, loss, lambda: self._newest_checkpoint() or self.best_checkpoint or "none")

    def _newest_checkpoint(self) -> str | None:
        found = list_checkpoints(self.run.checkpoints)
        return found[-1].name if found else None

    def _emit(self, kind: str, step: int, **fields) -> None:
        self.out.emit(kind, step, **fields)

    def _log(self, step: int, level: str, message: str) -> None:
        self.out.say(step, level, message)
