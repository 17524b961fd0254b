"""The event log and the command queue: append-only JSON lines in the run directory.

``events.jsonl`` is written by the trainer (rank 0 only) and read by everything else.
``commands.jsonl`` is written by the TUI (or any tool) and read by the trainer.
Both are versioned plain JSON, one object a line, so jq and pandas read them too.
This module imports nothing heavy: the TUI and ``ftui runs`` use it without torch.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

# The schema (versions, event types, statuses, commands) is events_schema's; this module reads and writes.
from .events_schema import SCHEMA_VERSION, Invalid, check_command, parse_event

Listener = Callable[[dict], None]


class EventLog:
    """Appends events to ``events.jsonl`` and hands each to in-process listeners.

    Each line is written with one ``write`` call on a file opened in append mode and flushed,
    so a reader tailing the file sees whole lines and a crash loses at most the last one.
    Thread-safe: the hardware sampler emits from its own thread.
    """

    def __init__(self, path: str | os.PathLike, listeners: list[Listener] | None = None):
        self.path = Path(path)
        self.listeners: list[Listener] = list(listeners or [])
        self._lock = threading.Lock()
        self._file = open(self.path, "a", encoding="utf-8")

    def emit(self, type: str, step: int = 0, **fields) -> dict:
        event = {"v": SCHEMA_VERSION, "type": type, "t": round(time.time(), 3), "step": int(step)}
        event.update(fields)
        line = json.dumps(event, separators=(",", ":"), default=_jsonable) + "\n"
        with self._lock:
            if not self._file.closed:
                self._file.write(line)
                self._file.flush()
        for listener in self.listeners:
            listener(event)
        return event

    def close(self) -> None:
        with self._lock:
            self._file.close()


class NullEventLog:
    """What ranks other than 0 write: nothing (one writer keeps the log ordered and whole)."""

    listeners: list = []

    def emit(self, type: str, step: int = 0, **fields) -> dict:
        return {}

    def close(self) -> None:
        pass


def _jsonable(value):
    """Turns numpy/torch scalars and paths into plain JSON values."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def read_events(path: str | os.PathLike) -> list[dict]:
    """All whole, valid events in a log; a torn last line or an invalid one is skipped, not an error."""
    return list(EventTail(path).read_new())


class EventTail:
    """Reads the lines appended to a JSONL file since the last call (like ``tail -f``).

    Remembers a byte offset; a trailing partial line is kept for the next call. Each whole line
    goes through ``parse`` (events by default: only schema-checked events come out); a line it
    refuses is counted in ``skipped``, with the last reason in ``last_skip``.
    """

    def __init__(self, path: str | os.PathLike, parse: Callable[[bytes], dict] = parse_event):
        self.path = Path(path)
        self.parse = parse
        self.offset = 0
        self.line_no = 0  # lines read so far (counted from the offset the tail started at)
        self.skipped = 0
        self.last_skip: str | None = None  # "line 12: 'step' must be a whole number >= 0, not 'many'"
        self._partial = b""

    def read_lines(self) -> Iterator[tuple[int, bytes]]:
        """(line number, bytes) of each whole, non-blank line appended since the last call."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except OSError:  # not there yet, or unreadable: nothing new to read
            return
        self.offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            self.line_no += 1
            if line.strip():
                yield self.line_no, line

    def read_new(self) -> Iterator[dict]:
        for line_no, line in self.read_lines():
            try:
                yield self.parse(line)
            except Invalid as e:
                self.skipped += 1
                self.last_skip = f"line {line_no}: {e}"


def make_command(cmd: str, value: float | None = None, mode: str | None = None) -> dict:
    """A command object; ``set_lr`` takes ``value`` and ``mode`` ("set" or "scale").

    ValueError (the schema's Invalid) for anything the trainer would refuse: an unknown command,
    a set_lr value that is not a finite, positive learning rate or factor of sensible size.
    """
    command = {"v": SCHEMA_VERSION, "id": uuid.uuid4().hex[:12], "t": round(time.time(), 3), "cmd": cmd}
    if cmd == "set_lr":
        command["value"] = value
        command["mode"] = mode or "set"
    return check_command(command)


def write_command(run_dir: str | os.PathLike, cmd: str, value: float | None = None,
                  mode: str | None = None) -> dict:
    """Appends a command to ``<run_dir>/commands.jsonl`` and returns it (with its id)."""
    command = make_command(cmd, value, mode)
    with open(Path(run_dir) / "commands.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(command, separators=(",", ":")) + "\n")
    return command
