"""Steering: commands in (pause, resume, save, stop, set_lr) as ``TrainerControl`` changes at
optimizer-step boundaries (the only place HF reads control), the save plan, and the NaN guard."""

from __future__ import annotations

import time
from typing import Callable

from ..commanding import CommandReader, apply_lr_factor
from ..stepsync import Decision, StepSync
from .events import EventsOut

PAUSE_POLL_S = 0.2


class Steering:
    """One decision per step, the same on every rank: stop, save, pause, a new rate, or a NaN halt."""

    def __init__(self, commands_path, out: EventsOut):
        self.out = out
        self.commands = CommandReader(commands_path, out.emit)
        self.sync: StepSync | None = None
        self.trainer = None            # FtuiTrainer, for the per-step NaN check (None in a plain script)
        self.is_zero = True
        self.stop_requested = False    # set by a signal handler (SIGTERM: checkpoint, then stop)
        self.halted_nan = False
        self.save_reason: str | None = None   # why the next checkpoint is written (its event says)
        self.last_save_step: int | None = None
        self.pause_after_save = False
        self.paused_total_s = 0.0
        self._save_after_eval = False

    def begin(self, sync: StepSync) -> None:
        self.sync = sync
        if self.is_zero:
            self.commands.skip_existing()

    def outcome(self) -> str:
        """How the training ended: finished, stopped (a command or a signal) or nan_halted."""
        return "nan_halted" if self.halted_nan else ("stopped" if self.stop_requested else "finished")

    # --- each optimizer step ----------------------------------------------------------------
    def step_ended(self, state, control, kwargs) -> bool:
        """Takes this step's decision; False when some rank's loss was not finite (halt, nothing else)."""
        local = Decision(nan=float(self._local_nan()), stop=float(self.stop_requested))
        if self.is_zero:
            local = local.merge(self.commands.decide(state.global_step, kwargs.get("optimizer"), paused=False))
        d = self.sync.exchange(local)
        if d.nan:
            return False
        self._act(d, control, kwargs)
        if d.pause and not d.stop:
            self.pause(state, control, kwargs)
        return True

    def _act(self, d: Decision, control, kwargs) -> None:
        """The parts of a decision that take effect at once: learning rate, stop, save."""
        if d.lr_factor:
            apply_lr_factor(d.lr_factor, kwargs.get("optimizer"), kwargs.get("lr_scheduler"))
        if d.stop:
            self._stop(control)
        elif d.save:
            control.should_save = True
            self.save_reason = "command"

    def pause(self, state, control, kwargs) -> None:
        """Holds every rank between steps; still answers resume, stop, save and set_lr."""
        self.out.emit("status", state.global_step, status="paused", message="")
        started = time.monotonic()
        while True:
            time.sleep(PAUSE_POLL_S)
            local = Decision(stop=float(self.stop_requested))
            if self.is_zero:
                local = local.merge(self.commands.decide(state.global_step, kwargs.get("optimizer"), paused=True))
            d = self.sync.exchange(local)  # every rank polls together, so no collective times out
            self._act(d, control, kwargs)
            if d.save and not d.stop:
                self.pause_after_save = not d.resume  # the save pauses again after the checkpoint
            if d.stop or d.save or d.resume:
                break
        self.out.paused(time.monotonic() - started)
        self.paused_total_s += time.monotonic() - started
        if d.resume and not d.stop:
            self.out.emit("status", state.global_step, status="running", message="")

    def _stop(self, control) -> None:
        control.should_training_stop = True
        control.should_save = True
        self.save_reason = "stop"
        self.stop_requested = True

    # --- the save plan ----------------------------------------------------------------------
    def plan_saves(self, args, state, control, last_eval_step: int | None, own_plan: bool) -> None:
        """After a step: the last step always gets an evaluation and a checkpoint (unless ``own_plan``:
        a plain script keeps its own), and a save never comes before the epoch's evaluation."""
        if not own_plan and state.global_step >= state.max_steps and last_eval_step != state.global_step:
            control.should_evaluate = True
            control.should_save = True
            self.save_reason = self.save_reason or "final"
        if control.should_save and self.save_reason is None:
            self.save_reason = "steps"
        if control.should_save and not control.should_evaluate and self._epoch_eval_follows(args, state, last_eval_step):
            # HF would save before the epoch's evaluation: the checkpoint would miss that evaluation
            # (its metric, the patience count) and a resume from it would never run it.
            control.should_save, self._save_after_eval = False, True

    @staticmethod
    def _epoch_eval_follows(args, state, last_eval_step: int | None) -> bool:
        """At an epoch's last step with once-an-epoch evaluation: on_epoch_end evaluates next."""
        at_end = bool(state.epoch) and float(state.epoch).is_integer()
        return at_end and args.eval_strategy == "epoch" and last_eval_step != state.global_step

    def epoch_ended(self, state, control, last_eval_step: int | None) -> None:
        if self._save_after_eval:  # the save step_ended held back for this evaluation
            control.should_save, self._save_after_eval = True, False
        if self.halted_nan:
            control.should_evaluate = control.should_save = False
            return
        if last_eval_step == state.global_step:
            control.should_evaluate = False  # already evaluated at this step
        if self.last_save_step == state.global_step:
            control.should_save = False      # already saved at this step
        if control.should_save and self.save_reason is None:
            self.save_reason = "epoch"

    def saved(self, step: int) -> str:
        """The checkpoint at ``step`` is written; returns why it was."""
        reason, self.save_reason, self.last_save_step = self.save_reason or "steps", None, step
        return reason

    # --- NaN guard ------------------------------------------------------------------------
    def halt_nan(self, state, control, loss, last_good: Callable[[], str]) -> None:
        """Stops at once, with nothing saved after the bad step; ``last_good()`` names the checkpoint to use."""
        if self.halted_nan:
            return
        self.halted_nan = True
        if loss is None:  # found by the per-step check: log the step HF will not log
            mine = self.trainer.nonfinite_loss if self.trainer is not None else None
            loss = mine if mine is not None else "nan (on another rank)"
            self.out.emit("step", state.global_step, epoch=round(state.epoch or 0, 4), loss=str(loss),
                          total_steps=state.max_steps)
        control.should_training_stop = True
        control.should_save = control.should_evaluate = control.should_log = False
        self.out.say(state.global_step, "error", f"non-finite loss ({loss}) at step {state.global_step}: run halted; "
                     f"no checkpoint written after it (last good: {last_good()})")
        self.out.emit("status", state.global_step, status="nan_halted", message=f"loss {loss} at step {state.global_step}")

    def _local_nan(self) -> bool:
        return self.trainer is not None and self.trainer.nonfinite_loss is not None
