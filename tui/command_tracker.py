"""Which commands were asked for and whether the trainer has acknowledged them.

A command is "pending" from the moment it is in commands.jsonl until an ``ack`` event with
its id appears in events.jsonl; then "ok" or "failed" with the trainer's message. Commands
written by another UI attached to the same run show up too (the watcher reads the file).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

KEEP = 20  # commands remembered for display


@dataclass
class TrackedCommand:
    id: str
    cmd: str
    t: float
    value: float | None = None
    mode: str | None = None
    state: str = "pending"  # pending | ok | failed
    message: str = ""
    ack_t: float | None = None

    def label(self) -> str:
        """"set_lr x0.5", "set_lr 3e-05", "pause"."""
        if self.cmd != "set_lr" or self.value is None:
            return self.cmd
        return f"set_lr x{self.value:g}" if self.mode == "scale" else f"set_lr {self.value:g}"


class CommandTracker:
    def __init__(self) -> None:
        self.commands: dict[str, TrackedCommand] = {}
        self._acks: dict[str, dict] = {}  # acks seen before their command (another UI's)

    def sent(self, command: dict) -> TrackedCommand:
        """Records a command (from our own key press or read back from commands.jsonl)."""
        cid = command.get("id", "")
        if cid in self.commands:
            return self.commands[cid]
        tracked = TrackedCommand(cid, command.get("cmd", "?"), command.get("t") or time.time(),
                                 command.get("value"), command.get("mode"))
        self.commands[cid] = tracked
        if cid in self._acks:
            self._apply_ack(tracked, self._acks.pop(cid))
        while len(self.commands) > KEEP:
            self.commands.pop(next(iter(self.commands)))
        return tracked

    def acked(self, ack: dict) -> None:
        tracked = self.commands.get(ack.get("id", ""))
        if tracked is None:
            self._acks[ack.get("id", "")] = ack
        else:
            self._apply_ack(tracked, ack)

    @staticmethod
    def _apply_ack(tracked: TrackedCommand, ack: dict) -> None:
        tracked.state = "ok" if ack.get("ok", True) else "failed"
        tracked.message = ack.get("message", "") or ""
        tracked.ack_t = ack.get("t")

    def pending(self) -> list[TrackedCommand]:
        return [c for c in self.commands.values() if c.state == "pending"]

    def latest(self, n: int = 3) -> list[TrackedCommand]:
        return list(self.commands.values())[-n:]
