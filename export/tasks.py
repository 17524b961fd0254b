"""What an export does differently per task; the pipeline (pipeline.py) is the same for all.

A checkpoint's config.json names its head (``...ForSequenceClassification``, ...); ``task_for`` finds
its task in the task table (ftui.rundir.tasks) and imports the table's ExportTask class for it: the
one that knows how to load its validation data, turn it into model inputs with the bundle's own
torch-free preprocessing, compare PyTorch with onnxruntime on it, and describe the bundle. Each class
takes its name, head, optimum task, primary metric and predictor from its table entry. No
ftui.trainer import here.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ftui.rundir.tasks import TASKS, Task, resolve, task_of_architecture

from .errors import ExportError


@dataclass
class Examples:
    """The validation split: each task keeps its own inputs and truth (truth follows the checkpoint's ids)."""

    inputs: list            # texts, word lists or image paths
    truth: Any              # class ids (np.ndarray), or what the task needs to score
    path: Path
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.inputs)


@dataclass
class Split:
    """The validation inputs as model-input batches, and how to put the batches' outputs back together."""

    batches: list[dict[str, np.ndarray]]
    collect: Callable[[list[np.ndarray]], Any]  # per-batch logits -> the task's comparable outputs


class ExportTask:
    """The sequence-agnostic defaults; subclasses fill in the task (an ftui.rundir.tasks.ExportSide)."""

    model_types: tuple[str, ...] = ()
    columns = (("acc", "accuracy"), ("F1", "f1_macro"))  # report table: (header, metric key)
    support_modules: tuple[str, ...] = ()  # other torch-free modules predict.py imports, copied as they are

    @property
    def spec(self) -> Task:
        """This class's entry in the task table (the one whose ``exporter`` names it)."""
        return table_entry(type(self))

    @property
    def name(self) -> str:  # the recipe's task.type
        return self.spec.name

    @property
    def auto_class(self) -> str:  # transformers AutoModelFor... name
        return self.spec.head

    @property
    def optimum_task(self) -> str:
        return self.spec.optimum_task

    @property
    def primary_metric(self) -> str:
        """What the accuracy gate watches (reported as accuracy_drop_pts): the task's default metric."""
        return self.spec.default_metric

    @property
    def predictor_file(self) -> Path:
        """The torch-free predictor module copied into the bundle as predict.py."""
        return Path(importlib.util.find_spec(self.spec.predictor).origin)

    def check_checkpoint(self, checkpoint: Path, config: dict) -> None:
        """Refuses a checkpoint this task cannot bundle (missing preprocessing files, ...)."""

    def load_pytorch(self, checkpoint: Path):
        import torch
        import transformers

        auto = getattr(transformers, self.auto_class)
        try:
            return auto.from_pretrained(checkpoint, use_safetensors=True, dtype=torch.float32).eval()
        except (OSError, ValueError) as e:
            raise ExportError(f"{checkpoint}: cannot load the model ({str(e).splitlines()[0][:200]})") from None

    def load_examples(self, path: Path, labels: list[str]) -> Examples:
        raise NotImplementedError

    def split(self, source, examples: Examples, input_names: list[str]) -> Split:
        """Model inputs for the validation split, made by the bundle's own preprocessing code."""
        raise NotImplementedError

    def compare(self, logits, reference, examples: Examples) -> dict:
        """max_abs_diff, mean_abs_diff, label_agreement, the task metrics and accuracy_drop_pts
        (the primary metric's drop from PyTorch, in points)."""
        raise NotImplementedError

    def task_metrics(self, logits, examples: Examples) -> dict:
        raise NotImplementedError

    def inputs_digest(self, source, examples: Examples, split: Split) -> str | None:
        """The sha256 of the split's model inputs as ftui.rundir.reference_logits defines it, to match the
        trainer's saved logits; None where this task cannot reuse them (PyTorch then runs)."""
        return None

    def preprocessing_check(self, source, examples: Examples) -> tuple[dict, Any] | None:
        """(report dict, Gate): the bundle's preprocessing must match what training used."""
        return None

    def shape_check(self, session, source, examples: Examples, static_axes: list[str]) -> dict:
        """Runs input sizes the export never traced with; {"input", "output_shape", "static_axes", "ok"}."""
        raise NotImplementedError

    def benchmark_inputs(self, source, bundle: Path, examples: Examples, input_names: list[str],
                         batches: tuple[int, ...]) -> tuple[dict[int, dict], dict]:
        """({batch: fixed-size inputs}, setup words for the report, e.g. {"sequence": 128})."""
        raise NotImplementedError

    def manifest(self, source, bundle: Path) -> dict:
        """The task's keys in bundle.json (what the predictor needs besides labels and models)."""
        return {}

    def readme_usage(self, report) -> str:
        """The bundle README's "run it" section."""
        return ""


def table_entry(cls: type) -> Task:
    path = f"{cls.__module__}:{cls.__qualname__}"
    for task in TASKS.values():
        if task.exporter == path:
            return task
    raise LookupError(f"{path} is no task's exporter in ftui.rundir.tasks.TASKS")


def task_for(checkpoint: Path, config: dict) -> ExportTask:
    archs = config.get("architectures") or []
    if not isinstance(archs, list) or not all(isinstance(a, str) for a in archs):
        raise ExportError(f"{checkpoint}: config.json's architectures must be a list of class names, not {archs!r:.80}")
    spec = task_of_architecture(archs)
    if spec is None:
        raise ExportError(f"{checkpoint}: unsupported task {archs or 'unknown'}: ftui exports "
                          + ", ".join(f"…{t.suffix}" for t in TASKS.values()))
    task = resolve(spec.exporter)()
    model_type = config.get("model_type", "")
    if model_type not in task.model_types:
        raise ExportError(f"{checkpoint}: unsupported architecture {model_type!r} for {task.name} "
                          f"(supported: {', '.join(task.model_types)})")
    task.check_checkpoint(checkpoint, config)
    return task


def batched_logits_diff(logits: np.ndarray, reference: np.ndarray) -> dict:
    """max and mean |Δ| between two logit arrays of the same shape."""
    diff = np.abs(np.asarray(logits, np.float64) - np.asarray(reference, np.float64))
    return {"max_abs_diff": float(diff.max()) if diff.size else 0.0,
            "mean_abs_diff": float(diff.mean()) if diff.size else 0.0}
