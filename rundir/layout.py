"""The run directory: the one contract between trainer, TUI, export and other tools.

    runs/<name>/
      recipe.toml          the fully resolved recipe
      env.json             versions, git commit, hardware, seed, argv
      events.jsonl         what the trainer did (see events.py)
      commands.jsonl       what a UI asked for
      trainer.pid          pid and host of the live trainer process
      trainer.log          stdout/stderr of a detached trainer
      data/validation.jsonl  the exact validation split ({"text", "label"} a line)
      data/calibration.jsonl a seeded, class-stratified sample of training rows (same format;
                           image runs copy the images to data/calibration/): static int8's calibration
      checkpoints/checkpoint-<step>/   HF-format checkpoints (safetensors)
      checkpoints/best.json            {"checkpoint": "checkpoint-<step>", "metric", "value", "step"}
      export/              what `ftui export` writes

Standard library only: the trainer, `ftui runs`, the cockpit and export all find a run's files here.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from .errors import RunDirError

MARKER_FILES = ("events.jsonl", "recipe.toml")
BEST_POINTER = "best.json"  # in the checkpoints folder (a script run's own output_dir included)


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def events(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def commands(self) -> Path:
        return self.path / "commands.jsonl"

    @property
    def recipe(self) -> Path:
        return self.path / "recipe.toml"

    @property
    def env(self) -> Path:
        return self.path / "env.json"

    @property
    def pidfile(self) -> Path:
        return self.path / "trainer.pid"

    @property
    def log(self) -> Path:
        return self.path / "trainer.log"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def best_pointer(self) -> Path:
        return self.checkpoints / BEST_POINTER

    @property
    def validation_data(self) -> Path:
        return self.path / "data" / "validation.jsonl"

    @property
    def calibration_data(self) -> Path:
        """Training rows only: static int8 calibrates on them, never on the validation rows that judge it."""
        return self.path / "data" / "calibration.jsonl"

    def best_checkpoint(self) -> Path | None:
        """The complete checkpoint best.json names, else the newest complete one (None: none yet).

        A pointer to a folder that is not a complete checkpoint of this run (torn, pruned, garbage,
        or outside checkpoints/) is ignored, so trainer, cockpit and export all pick the same one."""
        found = list_checkpoints(self.checkpoints)
        try:
            best = self.checkpoints / json.loads(self.best_pointer.read_text())["checkpoint"]
        except (OSError, ValueError, KeyError, TypeError, RecursionError):  # a torn or garbage pointer
            best = None
        if best in found:
            return best
        return found[-1] if found else None

    def trainer_alive(self) -> bool | None:
        """True/False when the pidfile names a process on this host; None when unknown."""
        try:
            info = json.loads(self.pidfile.read_text())
        except (OSError, ValueError, RecursionError):
            return None
        if not isinstance(info, dict) or info.get("host") != socket.gethostname():
            return None
        pid = info.get("pid", 0)
        if isinstance(pid, bool) or not isinstance(pid, int) or not 0 <= pid < 2**31:
            return None  # not a pid this host can have: unknown, like a pidfile from elsewhere
        return pid_alive(pid)


def is_run_dir(path: str | os.PathLike) -> bool:
    p = Path(path)
    return p.is_dir() and any((p / m).is_file() for m in MARKER_FILES)


def open_run(path: str | os.PathLike) -> RunDir:
    """A RunDir for an existing run, or a one-line error."""
    p = Path(path)
    if not p.exists():
        raise RunDirError(f"{p}: no such run directory")
    if not is_run_dir(p):
        raise RunDirError(f"{p}: not an ftui run directory (no events.jsonl or recipe.toml)")
    return RunDir(p)


def create_run(path: str | os.PathLike) -> RunDir:
    """Makes a new run directory; refuses a non-empty folder that is not a run."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise RunDirError(f"{p}: exists and is not a directory")
    if p.is_dir() and any(p.iterdir()) and not is_run_dir(p):
        raise RunDirError(f"{p}: exists, is not empty and is not an ftui run; choose another name")
    if is_run_dir(p):
        raise RunDirError(f"{p}: already holds a run; use --resume {p} or another --name")
    try:
        (p / "checkpoints").mkdir(parents=True, exist_ok=True)
        (p / "data").mkdir(exist_ok=True)
    except OSError as e:
        raise RunDirError(f"{p}: cannot create run directory ({e.strerror})") from None
    return RunDir(p)


def list_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints (``checkpoint-<step>`` with a trainer_state.json), oldest first."""
    if not folder.is_dir():
        return []
    found = []
    for d in folder.iterdir():
        if d.is_dir() and d.name.startswith("checkpoint-") and d.name[11:].isdigit():
            if (d / "trainer_state.json").is_file():
                found.append(d)
    return sorted(found, key=lambda d: int(d.name[11:]))


def folder_size(folder: Path) -> int:
    """Bytes in a checkpoint folder's files (0 when it cannot be read)."""
    try:
        return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    except OSError:
        return 0


def write_pidfile(run: RunDir) -> None:
    info = {"pid": os.getpid(), "host": socket.gethostname()}
    write_atomic(run.pidfile, json.dumps(info))


def write_atomic(path: Path, text: str) -> None:
    """Writes a small file by rename, so readers never see it half written."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) is not alive.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True
