"""The calibration sample static int8 measures activation ranges on: training rows, never validation rows.

The trainer saves a seeded, class-stratified sample of its training split as the run's
data/calibration.jsonl (rundir.layout); `ftui export --calibration FILE` names one for a bare
checkpoint. It is read by the task's own strict readers and turned into model inputs by the bundle's
own preprocessing (the task's ``split``), exactly like the validation rows that judge the result, and
any row that is also a validation row is dropped: calibrating on the rows that grade the model
would flatter it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ExportError
from .tasks import Examples, ExportTask, Split

# Rows read from the sample at most: MinMax over 256 MiniLM rows takes seconds on two cores.
CALIBRATION_ROWS = 256


@dataclass
class Calibration:
    """The calibration rows (what was read) and their model inputs, batch by batch."""

    path: Path
    examples: Examples
    split: Split
    dropped: int  # rows that were validation rows too

    @property
    def rows(self) -> int:
        return len(self.examples)

    def describe(self) -> str:
        dropped = f", {self.dropped} validation rows left out" if self.dropped else ""
        return f"{self.rows} training rows of {self.path}{dropped}"


def calibration_path(run_file: Path | None, option: Path | None) -> Path | None:
    """``--calibration FILE``, else the run's saved sample if it exists, else None (no static int8)."""
    if option is not None:
        return Path(option)
    return run_file if run_file is not None and run_file.is_file() else None


def read_calibration(task: ExportTask, source, path: Path, validation: Examples) -> tuple[Examples, int]:
    """(the sample at ``path`` less any validation row, how many were dropped), read by the task's own
    readers; an empty or one-class sample, or one made only of validation rows, is an ExportError."""
    if not path.is_file():
        raise ExportError(f"{path}: no such calibration file")
    if not path.read_bytes().strip():
        raise ExportError(f"{path}: the calibration sample is empty; it needs training rows of at least two classes")
    examples = task.load_examples(path, source.labels)
    examples, dropped = without_validation_rows(examples, validation, task.spec.inputs == "image")
    if not len(examples):
        raise ExportError(f"{path}: every calibration row is also a validation row; calibrate on training rows")
    classes = classes_in(examples)
    if len(classes) < 2:
        only = source.labels[classes.pop()] if classes else "none"
        raise ExportError(f"{path}: the calibration sample holds one class only ({only!r}); "
                          "it needs training rows of at least two classes")
    return first_rows(examples, CALIBRATION_ROWS), dropped


def calibration_inputs(task: ExportTask, source, examples: Examples, dropped: int,
                       input_names: list[str]) -> Calibration:
    """The sample as model inputs, made by the bundle's own preprocessing (the task's split)."""
    split = task.split(source, examples, input_names)
    pad_id = task.tokenizer(source).padding["pad_id"] if hasattr(task, "tokenizer") else 0
    return Calibration(examples.path, examples, Split(same_length(split.batches, pad_id), split.collect), dropped)


def same_length(batches, pad_id: int) -> list[dict]:
    """Every batch padded to the sample's longest sequence: onnxruntime's histogram calibrators (Percentile,
    Entropy) stack the batches' activations and need one shape. Images are one shape already."""
    batches = list(batches)
    longest = max((v.shape[1] for b in batches for v in b.values() if v.ndim == 2), default=0)

    def pad(name: str, v: np.ndarray) -> np.ndarray:
        if v.ndim != 2 or v.shape[1] == longest:
            return v
        fill = pad_id if name == "input_ids" else 0
        return np.pad(v, ((0, 0), (0, longest - v.shape[1])), constant_values=fill)

    return [{k: pad(k, v) for k, v in b.items()} for b in batches]


def classes_in(examples: Examples) -> set[int]:
    """The class ids the sample's truth holds (a tag per word for NER, a label per row otherwise)."""
    truth = examples.truth
    if isinstance(truth, np.ndarray):
        return set(truth.tolist())
    return {int(t) for row in truth for t in row}


def without_validation_rows(examples: Examples, validation: Examples, images: bool = False) -> tuple[Examples, int]:
    """The sample less any row whose input is a validation input (same text, words or image bytes)."""
    held_out = {row_key(x, images) for x in validation.inputs}
    keep = [i for i, x in enumerate(examples.inputs) if row_key(x, images) not in held_out]
    return subset(examples, keep), len(examples) - len(keep)


def first_rows(examples: Examples, limit: int) -> Examples:
    return examples if len(examples) <= limit else subset(examples, list(range(limit)))


def subset(examples: Examples, idx: list[int]) -> Examples:
    truth = examples.truth
    picked = truth[idx] if isinstance(truth, np.ndarray) else [truth[i] for i in idx]
    extra = {k: v for k, v in examples.extra.items() if k == "labels"}  # the rest is derived per split
    return Examples([examples.inputs[i] for i in idx], picked, examples.path, extra)


def row_key(value, images: bool = False) -> str | tuple:
    """What makes two rows the same input: the text, the word list, or an image file's bytes (the run
    copies its images, so two paths can hold one image)."""
    if isinstance(value, list):
        return tuple(value)
    return hashlib.sha256(Path(value).read_bytes()).hexdigest() if images else value


class CalibrationReader:
    """onnxruntime's CalibrationDataReader over the sample's batches, restricted to the graph's inputs."""

    def __init__(self, batches, input_names: list[str]):
        self.batches, self.input_names = batches, input_names
        self.rewind()

    def get_next(self) -> dict | None:
        batch = next(self._rows, None)
        return None if batch is None else {n: batch[n] for n in self.input_names}

    def rewind(self) -> None:
        self._rows = iter(self.batches)

    def __iter__(self):
        return iter(self.get_next, None)
