"""Finds what an export starts from: the checkpoint, its labels, tokenizer, max length and validation data.

Reads a run through the run-directory contract (ftui.rundir, no ftui.trainer import): its best
checkpoint (RunDir.best_checkpoint: the one `checkpoints/best.json` names, else the newest complete
one), `data/validation.jsonl` and `recipe.toml` [data].max_length. A bare HF checkpoint folder works
too (then `--data` is needed unless the folder sits inside a run).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ftui.rundir.errors import first_line
from ftui.rundir.layout import RunDir, is_run_dir

from .errors import ExportError
from .tasks import ExportTask, task_for

DEFAULT_MAX_LENGTH = 128


@dataclass(frozen=True)
class ExportSource:
    """A checkpoint that can be exported, with everything validation needs."""

    checkpoint: Path
    run_dir: Path | None
    task: ExportTask
    labels: list[str]  # index = class id
    max_length: int
    validation: Path | None  # the run's saved split, if any
    recipe: Path | None


def resolve_source(path: Path) -> ExportSource:
    """Checks `path` (a run directory or an HF checkpoint folder) and describes what to export."""
    path = Path(path)
    if not path.exists():
        raise ExportError(f"{path}: no such run or checkpoint")
    if not path.is_dir():
        raise ExportError(f"{path}: not a run directory or checkpoint folder")
    if (path / "config.json").is_file():
        checkpoint, run_dir = path, _enclosing_run(path)
    elif is_run_dir(path):
        checkpoint, run_dir = _best_checkpoint(path), path
        if not (checkpoint / "config.json").is_file():
            raise ExportError(f"{checkpoint}: no config.json, so the checkpoint cannot be exported; "
                              "name another checkpoint folder of the run")
    else:
        raise ExportError(f"{path}: not an ftui run (no recipe.toml or events.jsonl) nor an HF checkpoint (no config.json)")
    config = _read_json(checkpoint / "config.json")
    task = task_for(checkpoint, config)
    labels = _labels(checkpoint, config)
    run = RunDir(run_dir) if run_dir else None
    recipe = run.recipe if run and run.recipe.is_file() else None
    validation = run.validation_data if run else None
    return ExportSource(checkpoint, run_dir, task, labels, _max_length(recipe, checkpoint, config),
                        validation if validation and validation.is_file() else None, recipe)


def _enclosing_run(checkpoint: Path) -> Path | None:
    """runs/<name>/checkpoints/checkpoint-N -> runs/<name>, when that is a run."""
    parent = checkpoint.resolve().parent
    if parent.name == "checkpoints" and is_run_dir(parent.parent):
        return parent.parent
    return None


def _best_checkpoint(run: Path) -> Path:
    """The run's best checkpoint by the contract's rule, the same one the trainer and cockpit name."""
    best = RunDir(run).best_checkpoint()
    if best is None:
        raise ExportError(f"{run}: the run has no complete checkpoint yet (checkpoints/checkpoint-N)")
    return best


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as e:  # RecursionError: JSON nested absurdly deep
        raise ExportError(f"{path}: unreadable ({e})") from None
    if not isinstance(data, dict):
        raise ExportError(f"{path}: not a JSON object")
    return data


def _labels(checkpoint: Path, config: dict) -> list[str]:
    """Label names by class id; refuses the generic LABEL_0.. names a checkpoint without labels carries."""
    id2label = config.get("id2label") or {}
    try:
        labels = [str(id2label[k]) for k in sorted(id2label, key=int)]
    except (ValueError, TypeError):
        labels = []
    if not labels or [int(k) for k in sorted(id2label, key=int)] != list(range(len(labels))):
        raise ExportError(f"{checkpoint}: config.json has no usable id2label (labels are needed for the bundle)")
    if all(name == f"LABEL_{i}" for i, name in enumerate(labels)):
        raise ExportError(f"{checkpoint}: config.json has only placeholder labels LABEL_0..; "
                          "the checkpoint was saved without label names")
    return labels


def _max_length(recipe: Path | None, checkpoint: Path, config: dict) -> int:
    """The recipe's [data].max_length (what training used), else the model's own limit capped at 512."""
    if recipe is not None:
        try:
            data = tomllib.loads(recipe.read_text(encoding="utf-8")).get("data", {})
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise ExportError(f"{recipe}: unreadable recipe ({first_line(e)})") from None
        if not isinstance(data, dict):
            raise ExportError(f"{recipe}: [data] must be a table, not {data!r:.40}")
        value = data.get("max_length")
        if _is_length(value):
            return value
    limits = [config.get("max_position_embeddings"), _tokenizer_limit(checkpoint), 512]
    return min(v for v in limits if _is_length(v)) or DEFAULT_MAX_LENGTH


def _is_length(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _tokenizer_limit(checkpoint: Path) -> int | None:
    try:
        value = json.loads((checkpoint / "tokenizer_config.json").read_text()).get("model_max_length")
    except (OSError, ValueError, AttributeError, RecursionError):
        return None
    return value if isinstance(value, int) and value < 100_000 else None
