"""Turning the lines of ``commands.jsonl`` into a step-boundary ``Decision`` (on rank 0 only).

Each command is acknowledged as it is decided, so a UI can show it as pending until then.
"""

from __future__ import annotations

from .events import EventTail
from .stepsync import Decision


class CommandReader:
    def __init__(self, path, emit):
        self.tail = EventTail(path)
        self.emit = emit  # emit(kind, step, **fields)
        self.path = path
        self.save_dir: str | None = None  # said in the save ack when it is not the run's own checkpoints/

    def skip_existing(self) -> None:
        """Commands written before this process started belong to an earlier one."""
        try:
            self.tail.offset = self.path.stat().st_size
        except FileNotFoundError:
            self.tail.offset = 0

    def decide(self, step: int, optimizer, paused: bool) -> Decision:
        decision = Decision()
        for command in self.tail.read_new():
            self._decide_one(command, decision, step, optimizer, paused)
        return decision

    def _decide_one(self, command: dict, d: Decision, step: int, optimizer, paused: bool) -> None:
        cmd = command.get("cmd")
        ack = lambda ok, message: self.emit("ack", step, id=command.get("id"), cmd=cmd, ok=ok, message=message)  # noqa: E731
        if cmd == "pause":
            if paused or d.pause:
                ack(True, "already paused")
            else:
                d.pause, d.resume = 1.0, 0.0
                ack(True, "paused")
        elif cmd == "resume":
            if paused or d.pause:
                d.resume, d.pause = 1.0, 0.0
                ack(True, "resumed")
            else:
                ack(True, "not paused")
        elif cmd == "save":
            d.save = 1.0
            where = f" in {self.save_dir}" if self.save_dir else ""
            ack(True, f"saving checkpoint-{step}{where}")
        elif cmd == "stop":
            d.stop = 1.0
            ack(True, "saving a checkpoint, then stopping")
        elif cmd == "set_lr":
            factor, message = lr_factor(command, optimizer, d.lr_factor or 1.0)
            if factor:
                d.lr_factor = (d.lr_factor or 1.0) * factor
            ack(factor is not None, message)
        else:
            ack(False, f"unknown command {cmd!r}")


def lr_factor(command: dict, optimizer, pending: float) -> tuple[float | None, str]:
    """The factor that applies a ``set_lr`` command, and what to tell the user."""
    value, mode = command.get("value"), command.get("mode", "set")
    if optimizer is None or not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        return None, "set_lr needs a positive value"
    if mode not in ("set", "scale"):
        return None, f"set_lr mode must be 'set' or 'scale', not {mode!r}"
    current = optimizer.param_groups[0]["lr"] * pending
    if mode == "scale":
        return float(value), f"learning rate {current:.3g} -> {current * value:.3g} from the next step"
    if current <= 0:
        return None, "the current learning rate is 0 (warm-up start); use scale instead"
    return value / current, f"learning rate {current:.3g} -> {value:.3g} from the next step"


def apply_lr_factor(factor: float, optimizer, scheduler) -> None:
    """Scales the optimizer's groups and the scheduler's base rates, so the schedule goes on from there."""
    for group in optimizer.param_groups:
        group["lr"] *= factor
    if scheduler is not None and hasattr(scheduler, "base_lrs"):
        scheduler.base_lrs = [lr * factor for lr in scheduler.base_lrs]
