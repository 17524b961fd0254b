"""What ``FtuiCallback`` does on its own in a user's plain HF ``Trainer`` script.

Under ``ftui train`` the session (session.py) writes the pid file, samples the hardware and
emits ``run_start`` and the final status and summary. A plain script has only the callback,
so this does the same, on world process zero only:

    on_train_begin  trainer.pid, run_start (from the model's config), the hardware heartbeat,
                    a guard that leaves a "failed" status if the script dies mid-training
    on_step_end     a light ``step`` event at least every PROGRESS_EVERY_S: HF logs the loss
                    only every ``logging_steps`` (500 by default)
    on_train_end    the final status and summary; the heartbeat stops, the guard comes off
"""

from __future__ import annotations

import atexit
import os
import sys
import time
import traceback

from ftui.rundir.errors import first_line
from ftui.rundir.layout import write_pidfile
from ftui.rundir.tasks import task_of_architecture

from .hardware import HardwareSampler

PROGRESS_EVERY_S = 1.0

def infer_task(model) -> str:
    """The ftui task a model's head class implies (the task table's suffixes), or "" when it is none of them."""
    task = task_of_architecture([type(model).__name__])
    return task.name if task else ""


def config_labels(config) -> list[str]:
    """The label names of ``config.id2label`` in id order; [] when there are none."""
    id2label = getattr(config, "id2label", None) or {}
    try:
        return [str(id2label[k]) for k in sorted(id2label, key=int)]
    except (TypeError, ValueError):
        return [str(v) for v in id2label.values()]


def run_start_fields(args, state, model, train_dataloader) -> dict:
    """The run_start event's fields as far as a plain Trainer's arguments, state and model tell them."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model  # a PEFT wrapper
    config = getattr(inner, "config", None)
    params = list(model.parameters())
    fields = {
        "model": getattr(config, "_name_or_path", "") or type(inner).__name__,
        "model_type": getattr(config, "model_type", "") or "",
        "model_source": "script",
        "task": infer_task(inner),
        "labels": config_labels(config),
        "total_steps": int(state.max_steps),
        "epochs": float(state.num_train_epochs or args.num_train_epochs),
        "batch_size": int(args.per_device_train_batch_size),
        "grad_accum": int(args.gradient_accumulation_steps),
        "params_total": sum(p.numel() for p in params),
        "params_trainable": sum(p.numel() for p in params if p.requires_grad),
        "precision": "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32",
        "device": str(args.device),
        "world_size": int(args.world_size),
        "resumed_from": f"checkpoint-{state.global_step}" if state.global_step else None,
    }
    try:
        fields["train_rows"] = len(train_dataloader.dataset)
    except (AttributeError, TypeError):
        pass  # an iterable dataset has no length
    return fields


class CrashGuard:
    """Leaves a final status when the script dies of an uncaught exception (sys.excepthook) or
    exits without ending training (atexit). A kill leaves neither: the dead pid says it."""

    def __init__(self, record):
        self.record = record  # record(status, message, details)
        self._previous = None
        self.fired = False

    def install(self) -> None:
        self._previous = sys.excepthook
        sys.excepthook = self._excepthook
        atexit.register(self._at_exit)

    def remove(self) -> None:
        if sys.excepthook == self._excepthook:
            sys.excepthook = self._previous
        atexit.unregister(self._at_exit)

    def _excepthook(self, kind, value, tb) -> None:
        if not self.fired:
            self.fired = True
            interrupted = issubclass(kind, KeyboardInterrupt)
            said = f": {first_line(value)}" if str(value).strip() else ""
            message = "interrupted (Ctrl-C)" if interrupted else f"{kind.__name__}{said}"
            self._safely(self.record, "failed", message, "".join(traceback.format_exception(kind, value, tb)).strip())
        (self._previous or sys.__excepthook__)(kind, value, tb)

    def _at_exit(self) -> None:
        if not self.fired:
            self.fired = True
            self._safely(self.record, "failed", "the script exited before training ended", None)

    @staticmethod
    def _safely(fn, *args) -> None:
        try:
            fn(*args)
        except Exception:
            pass  # the process is going down; the dead pid still tells the truth


class ScriptRun:
    """The run-level events of a plain script, driven by the callback's hooks (``cb``)."""

    def __init__(self, cb):
        self.cb = cb
        self.state = None
        self.sampler: HardwareSampler | None = None
        self.guard = CrashGuard(self._crashed)
        self._began = time.monotonic()
        self._begin_step = 0
        self._last_progress = 0.0

    def begin(self, args, state, kwargs) -> None:
        self.state, self._began, self._begin_step = state, time.monotonic(), state.global_step
        self._last_progress = self._began
        if not state.is_world_process_zero:
            return
        write_pidfile(self.cb.run)
        self.cb.commands.save_dir = os.path.abspath(args.output_dir)  # the `s` key's ack says where
        fields = run_start_fields(args, state, kwargs["model"], kwargs.get("train_dataloader"))
        self.cb._emit("run_start", state.global_step, run=self.cb.run.name, metric=self.cb.metric, **fields)
        self.sampler = HardwareSampler(lambda f: self.cb._emit("hardware", self.state.global_step, **f))
        self.sampler.start()
        self.guard.install()

    def progress(self, args, state, control, optimizer) -> None:
        """A step event without a loss when HF will not log this step and none was sent for a while."""
        now = time.monotonic()
        if control.should_log or now - self._last_progress < PROGRESS_EVERY_S:
            return
        self._last_progress = now
        working = max(now - self._began - self.cb.paused_total_s, 1e-9)
        done = state.global_step - self._begin_step
        eta = (state.max_steps - state.global_step) * working / done if done > 0 else None
        lr = optimizer.param_groups[0]["lr"] if optimizer is not None and optimizer.param_groups else None
        self.cb._emit("step", state.global_step, epoch=round(state.epoch or 0, 4), lr=lr,
                      total_steps=state.max_steps, elapsed_s=round(now - self._began, 1),
                      eta_s=round(eta, 1) if eta is not None else None)

    def logged(self) -> None:
        """HF logged this step (with its loss): the next light step event can wait."""
        self._last_progress = time.monotonic()

    def end(self, args, state) -> None:
        """The final status and summary, as session.py writes them for ftui's own runs."""
        self._stop_sampler()
        self.guard.remove()
        cb = self.cb
        status = cb.outcome()
        if status != "nan_halted":  # the callback said so, with the loss, at the step it happened
            cb._emit("status", state.global_step, status=status,
                     message="early stopping: no improvement" if cb.early_stopped else "")
        best = os.path.join(args.output_dir, cb.best_checkpoint) if cb.best_checkpoint else None
        cb._emit("summary", state.global_step, status=status,
                 best_checkpoint=os.path.relpath(best, cb.run.path) if best else None,
                 metric=cb.metric, best_value=cb.best_value, final_step=state.global_step,
                 train_runtime_s=round(time.monotonic() - self._began, 1), early_stopped=cb.early_stopped,
                 metrics=cb.last_eval[1] if cb.last_eval else {}, **cb.diagnosis.summary())

    def _crashed(self, status: str, message: str, details: str | None) -> None:
        self._stop_sampler()
        step = self.state.global_step if self.state is not None else 0
        if details:
            self.cb._emit("log", step, level="error", message=details)
        self.cb._emit("status", step, status=status, message=f"{message} (at step {step})")

    def _stop_sampler(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()
            self.sampler = None
