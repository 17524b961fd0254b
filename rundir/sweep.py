"""The sweep folder: ``sweep.json`` beside one ordinary run directory per candidate.

    runs/<sweep>/
      sweep.json            {"format": "ftui-sweep", "v": 1, "metric", "greater_is_better",
                             "candidates": [{"name", "run", "params", "status", "rung", ...}],
                             "winner": name or null, ...}
      sweep-recipe.toml     the base recipe every candidate starts from (not recipe.toml: the
                            sweep folder itself is no run)
      sweep.log             what a detached sweep printed
      <candidate>/          a plain run dir: `ftui watch`, `ftui export`, `ftui train --resume`

Candidates carry more than the agreed keys (the leaderboard's facts); readers ignore keys they
do not know. Standard library only: the cockpit's compare screen reads it through ``read_sweep``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .errors import RunDirError
from .layout import write_atomic

FORMAT = "ftui-sweep"
VERSION = 1
SWEEP_FILE = "sweep.json"
BASE_RECIPE = "sweep-recipe.toml"
SWEEP_LOG = "sweep.log"
CANDIDATE_STATUSES = ("pending", "running", "done", "failed", "stopped", "dropped")


@dataclass
class Candidate:
    name: str
    run: str                                   # its run dir, a subfolder of the sweep folder
    params: dict = field(default_factory=dict)  # {"train.lr": 1e-4, ...}: the base recipe's overrides
    status: str = "pending"
    rung: int = 0                              # the last rung it trained in (successive halving)
    message: str = ""                          # why it failed or was dropped
    value: float | None = None                 # its best metric
    best_step: int | None = None
    step: int = 0
    samples_per_s: float | None = None
    params_trainable: int | None = None
    checkpoint_bytes: int | None = None
    diagnosis: str | None = None               # the kind of its last `diagnosis` event
    wall_s: float = 0.0                        # seconds its trainer processes ran, all rungs together


@dataclass
class Sweep:
    metric: str
    greater_is_better: bool
    candidates: list = field(default_factory=list)  # [Candidate]
    winner: str | None = None
    budget: dict = field(default_factory=dict)      # {"steps": N} or {"minutes": M}; {} = the recipe's own
    halving: bool = False
    rung_steps: list = field(default_factory=list)  # steps each rung trains to (halving)
    status: str = "pending"                         # pending | running | done | stopped

    def candidate(self, name: str) -> Candidate:
        return next(c for c in self.candidates if c.name == name)


def sweep_file(path: str | os.PathLike) -> Path:
    """``sweep.json`` of a sweep folder (or the file itself)."""
    p = Path(path)
    return p if p.name == SWEEP_FILE else p / SWEEP_FILE


def is_sweep_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / SWEEP_FILE).is_file()


def read_sweep(path: str | os.PathLike) -> Sweep:
    """The sweep a folder (or its sweep.json) holds; a one-line RunDirError for anything else."""
    file = sweep_file(path)
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError(f"{file.parent}: not a sweep folder (no {SWEEP_FILE})") from None
    except (OSError, ValueError, RecursionError) as e:
        raise RunDirError(f"{file}: unreadable ({type(e).__name__})") from None
    return _sweep_from(raw, file)


def write_sweep(path: str | os.PathLike, sweep: Sweep) -> None:
    """Writes sweep.json by rename: a reader sees the old file or the new one, never half of one."""
    body = {"format": FORMAT, "v": VERSION, **asdict(sweep)}
    write_atomic(sweep_file(path), json.dumps(body, indent=1, allow_nan=False))


def _sweep_from(raw, file: Path) -> Sweep:
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise RunDirError(f"{file}: not an ftui sweep file (no \"format\": \"{FORMAT}\")")
    if raw.get("v") != VERSION:
        raise RunDirError(f"{file}: sweep format version {raw.get('v')!r}; this ftui reads {VERSION}")
    if not isinstance(raw.get("metric"), str) or not isinstance(raw.get("candidates"), list):
        raise RunDirError(f"{file}: needs a \"metric\" string and a \"candidates\" list")
    known = {f.name for f in fields(Sweep)} - {"candidates"}
    sweep = Sweep(**{k: v for k, v in raw.items() if k in known}, candidates=[])
    sweep.greater_is_better = bool(sweep.greater_is_better)
    sweep.candidates = [_candidate_from(c, file) for c in raw["candidates"]]
    return sweep


def _candidate_from(raw, file: Path) -> Candidate:
    ok = (isinstance(raw, dict) and isinstance(raw.get("name"), str) and isinstance(raw.get("run"), str)
          and isinstance(raw.get("params", {}), dict) and raw.get("status", "pending") in CANDIDATE_STATUSES
          and isinstance(raw.get("rung", 0), int))
    if not ok or Path(raw["run"]).is_absolute() or ".." in Path(raw["run"]).parts:
        raise RunDirError(f"{file}: a candidate needs a name, a run subfolder, params, a known status "
                          f"and a whole rung, got {str(raw)[:80]}")
    known = {f.name for f in fields(Candidate)}
    return Candidate(**{k: v for k, v in raw.items() if k in known})


def last_diagnosis(run_path: str | os.PathLike) -> str | None:
    """The kind of the last ``diagnosis`` event in a run's events.jsonl, or None (none yet).

    Read from raw lines, so it does not matter whether this ftui's schema knows the type yet."""
    kind = None
    try:
        with open(Path(run_path) / "events.jsonl", "rb") as f:
            for line in f:
                if b'"diagnosis"' not in line:
                    continue  # cheap filter: most lines are steps
                try:
                    event = json.loads(line)
                except (ValueError, RecursionError):
                    continue
                if isinstance(event, dict) and event.get("type") == "diagnosis" and isinstance(event.get("kind"), str):
                    kind = event["kind"]
    except OSError:
        return None
    return kind
