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


# What each field's annotation admits in JSON (bool is no number here, as in the event schema).
_KINDS = {"str": (str,), "bool": (bool,), "int": (int,), "float": (int, float), "dict": (dict,), "list": (list,)}


def _typed(cls, raw: dict, file: Path, what: str) -> dict:
    """``raw``'s known fields, each of its field's type (a missing one takes the default)."""
    out = {}
    for f in fields(cls):
        if f.name not in raw:
            continue
        value, kinds = raw[f.name], f.type.split(" | ")
        ok = (value is None and "None" in kinds) or any(
            isinstance(value, _KINDS[k]) and (k == "bool" or not isinstance(value, bool)) for k in kinds if k in _KINDS)
        if not ok:
            raise RunDirError(f"{file}: {what} {f.name!r} must be {f.type}, not {str(value)[:40]!r}")
        out[f.name] = value
    return out


def _sweep_from(raw, file: Path) -> Sweep:
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise RunDirError(f"{file}: not an ftui sweep file (no \"format\": \"{FORMAT}\")")
    if raw.get("v") != VERSION:
        raise RunDirError(f"{file}: sweep format version {str(raw.get('v'))[:20]!r}; this ftui reads {VERSION}")
    if not isinstance(raw.get("metric"), str) or not isinstance(raw.get("candidates"), list):
        raise RunDirError(f"{file}: needs a \"metric\" string and a \"candidates\" list")
    values = _typed(Sweep, {"greater_is_better": raw.get("metric") != "loss", **raw, "candidates": []}, file, "the sweep's")
    sweep = Sweep(**values)
    sweep.candidates = [_candidate_from(c, file) for c in raw["candidates"]]
    return sweep


def _candidate_from(raw, file: Path) -> Candidate:
    if not isinstance(raw, dict) or not {"name", "run"} <= set(raw):
        raise RunDirError(f"{file}: a candidate needs a name and a run subfolder, got {str(raw)[:60]!r}")
    candidate = Candidate(**_typed(Candidate, raw, file, "a candidate's"))
    run = Path(candidate.run)
    if candidate.status not in CANDIDATE_STATUSES or run.is_absolute() or ".." in run.parts or not run.parts:
        raise RunDirError(f"{file}: candidate {candidate.name[:40]!r} needs a known status and a run subfolder")
    return candidate


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
