"""Turning the lines of ``commands.jsonl`` into a step-boundary ``Decision`` (on rank 0 only).

Each command is acknowledged as it is decided, so a UI can show it as pending until then. A line
the schema refuses (not a JSON object, an unknown command, a set_lr value that is not a finite,
positive rate of sensible size) is acknowledged with ok false and the reason; the run goes on.
"""

from __future__ import annotations

from ftui.rundir.events import EventTail
from ftui.rundir.events_schema import MAX_LR, Invalid, check_command, load_line, parse_command

from .stepsync import Decision


class CommandReader:
    def __init__(self, path, emit):
        self.tail = EventTail(path, parse=parse_command)
        self.emit = emit  # emit(kind, step, **fields)
        self.path = path
        self.save_dir: str | None = None  # said in the save ack when it is not the run's own checkpoints/

    def skip_existing(self) -> None:
        """Commands written before this process started belong to an earlier one."""
        try:
            existing = self.path.read_bytes()
        except OSError:
            existing = b""
        self.tail.offset, self.tail.line_no = len(existing), existing.count(b"\n")

    def decide(self, step: int, optimizer, paused: bool) -> Decision:
        decision = Decision()
        for line_no, line in self.tail.read_lines():
            raw = None
            try:
                raw = load_line(line)
                command = check_command(raw)
            except Invalid as e:
                self._refuse(raw, step, f"commands.jsonl line {line_no}: {e}")
                continue
            self._decide_one(command, decision, step, optimizer, paused)
        return decision

    def _refuse(self, raw, step: int, message: str) -> None:
        """Acknowledges a line that is no valid command, with its id and cmd when it has them."""
        fields = raw if isinstance(raw, dict) else {}
        cid, cmd = fields.get("id"), fields.get("cmd")
        self.emit("ack", step, id=cid if isinstance(cid, str) else None, cmd=cmd if isinstance(cmd, str) else None,
                  ok=False, message=message)

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
    """The factor that applies a checked ``set_lr`` command, and what to tell the user.

    The schema has checked the value; here the rate it leads to must be finite and below MAX_LR too
    (a scale of a rate already changed, or of a large one)."""
    value, mode = command["value"], command["mode"]
    if optimizer is None:
        return None, "set_lr: no optimizer to change"
    current = optimizer.param_groups[0]["lr"] * pending
    new = current * value if mode == "scale" else value
    if not new < MAX_LR:
        return None, f"set_lr: a learning rate of {new:.3g} is not one (must be below {MAX_LR:g})"
    if mode == "scale":
        return float(value), f"learning rate {current:.3g} -> {new:.3g} from the next step"
    if current <= 0:
        return None, "the current learning rate is 0 (warm-up start); use scale instead"
    return value / current, f"learning rate {current:.3g} -> {value:.3g} from the next step"


def apply_lr_factor(factor: float, optimizer, scheduler) -> None:
    """Scales the optimizer's groups and the scheduler's base rates, so the schedule goes on from there."""
    for group in optimizer.param_groups:
        group["lr"] *= factor
    if scheduler is not None and hasattr(scheduler, "base_lrs"):
        scheduler.base_lrs = [lr * factor for lr in scheduler.base_lrs]
