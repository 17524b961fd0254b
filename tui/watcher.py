"""Tails a run directory on a plain thread and posts what it reads; the UI never touches files.

The watcher reads only what was appended since its last look (``EventTail`` keeps a byte
offset), so a cockpit attached to a 10^5-event run reads the file once and then a few
bytes a poll. It polls every ``interval`` seconds (1 s: on a busy CPU box every wake-up of
the UI preempts a training thread), and every 50 ms for a few seconds after a command so its
ack shows at once; it posts one batch per poll that found
something, so the screen redraws at most that often.

A watcher is passed *into* the app, so tests can hand it a run directory written by the
fake trainer, or a different watcher altogether.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from ftui.rundir.events import EventTail
from ftui.rundir.events_schema import FINAL_STATUSES, SCHEMA_VERSION, check_event, parse_command
from ftui.rundir.layout import RunDir

from .messages import RunRead, TrainerHealth

SILENT_AFTER_S = 10.0  # a live trainer emits a hardware event about every second
HEALTH_EVERY_S = 1.0
LOG_TAIL_LINES = 12


def verdict(status: str, alive: bool | None, silent_s: float | None) -> str:
    """What to tell the user about the trainer process: "ok", "died" or "silent".

    Died: the pidfile names a process on this host that is gone while the run is not over,
    or we cannot check the process (another host, no pidfile) and it has been silent for
    more than 10 s. Silent: the process lives but has written nothing for 10 s (hung, or a
    very long step). A run whose last status is final is never dead, just over.
    """
    if status in FINAL_STATUSES:
        return "ok"
    stale = silent_s is not None and silent_s > SILENT_AFTER_S
    if alive is False or (alive is None and stale):
        return "died"
    return "silent" if stale else "ok"


def read_log_tail(path: Path, lines: int = LOG_TAIL_LINES, max_bytes: int = 16384) -> list[str]:
    """The last ``lines`` lines of a text file, reading at most its last ``max_bytes``."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return []
    text = data.decode("utf-8", errors="replace").replace("\r", "\n")
    return [line for line in text.splitlines() if line.strip()][-lines:]


def checkpoints_on_disk(folder: Path) -> frozenset | None:
    """Names of the checkpoint folders present now; None when the folder cannot be read."""
    try:
        return frozenset(name for name in os.listdir(folder) if name.startswith("checkpoint-"))
    except OSError:
        return None


class RunWatcher:
    """Polls ``events.jsonl``, ``commands.jsonl`` and the trainer's pid on a daemon thread."""

    def __init__(self, run_path: Path, interval: float = 1.0):
        self.run = RunDir(Path(run_path))
        self.interval = interval
        self._events = EventTail(self.run.events)
        self._commands = EventTail(self.run.commands, parse=parse_command)  # the trainer acks the others
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._hurry_until = 0.0
        self._thread: threading.Thread | None = None
        self._last_event_t: float | None = None
        self._final = False
        self._node_tails: dict[Path, EventTail] = {}  # hardware/node<N>.jsonl of other nodes
        self._next_scan = 0.0

    def start(self, target) -> None:
        """Starts polling; ``target.post_message`` (thread-safe in Textual) receives batches."""
        self._thread = threading.Thread(target=self._loop, args=(target,), name="ftui-watcher", daemon=True)
        self._thread.start()

    def hurry(self, seconds: float = 3.0) -> None:
        """Poll now, then every 50 ms for a while: a command was just sent and its ack should
        show as soon as the trainer writes it, not up to a poll interval later."""
        self._hurry_until = time.monotonic() + seconds
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)

    def poll(self) -> RunRead | None:
        """One look at the files: a message with what was appended (only schema-checked events and
        commands; how many event lines were skipped, and why the last was), or None."""
        skipped_before = self._events.skipped
        events = list(self._events.read_new())
        commands = list(self._commands.read_new())
        skipped = self._events.skipped - skipped_before
        for event in events:
            self._last_event_t = event.get("t", self._last_event_t)
            if event.get("type") == "status":
                self._final = event.get("status") in FINAL_STATUSES
        events += self._read_other_nodes()
        if not (events or commands or skipped):
            return None
        return RunRead(events, commands, skipped, self._events.last_skip if skipped else None)

    def _read_other_nodes(self) -> list[dict]:
        """Hardware samples that the other nodes of a multi-node run write beside the event log."""
        if time.monotonic() >= self._next_scan:
            self._next_scan = time.monotonic() + HEALTH_EVERY_S
            for path in sorted((self.run.path / "hardware").glob("node*.jsonl")):
                self._node_tails.setdefault(path, EventTail(path))
        return [e for tail in self._node_tails.values() for e in tail.read_new()]

    def health(self) -> TrainerHealth:
        """Liveness facts; the tail of trainer.log only when the trainer looks gone or stuck."""
        alive = self.run.trainer_alive()
        silent = None if self._last_event_t is None else max(0.0, time.time() - self._last_event_t)
        status = "finished" if self._final else "running"
        # before the first event the log is all there is to see (model loading, or the error
        # that stopped the trainer before it could write an event)
        quiet = self._last_event_t is None or verdict(status, alive, silent) != "ok"
        tail = read_log_tail(self.run.log) if quiet else []
        return TrainerHealth(alive, silent, tail, checkpoints_on_disk(self.run.checkpoints))

    def _loop(self, target) -> None:
        next_health = 0.0
        while not self._stop.is_set():
            try:
                message = self.poll()
                if message is not None:
                    target.post_message(message)
                if time.monotonic() >= next_health:
                    target.post_message(self.health())
                    next_health = time.monotonic() + HEALTH_EVERY_S
            except Exception as e:  # a bad read must not kill the cockpit; say it, keep polling
                target.post_message(RunRead([check_event({
                    "v": SCHEMA_VERSION, "type": "log", "t": time.time(), "step": 0, "level": "error",
                    "message": f"ftui watcher: {e!r}"})], []))
            fast = time.monotonic() < self._hurry_until
            self._wake.wait(min(self.interval, 0.05) if fast else self.interval)
            self._wake.clear()
