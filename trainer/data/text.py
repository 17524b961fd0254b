"""Task data: labelled texts from CSV, TSV, JSONL or Parquet files, or a built-in demo corpus.

Returns plain Python lists (no torch): a ``TextDataset`` for train and one for validation,
with the sorted label names that become the model's ``id2label``.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from ftui.rundir.tables import label_value, read_records, require_columns, text_value

from ..errors import DataError
from ..recipe import DataSection

# What the trainer's user can do about a byte the recipe's encoding cannot decode (rundir.tables says where).
DECODE_ADVICE = 'fix the file, or set data.encoding_errors = "replace" or data.encoding'


@dataclass
class TextDataset:
    texts: list[str]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, idx: list[int]) -> "TextDataset":
        return TextDataset([self.texts[i] for i in idx], [self.labels[i] for i in idx])


@dataclass
class TaskData:
    train: TextDataset
    validation: TextDataset
    label_names: list[str]
    source: str
    dropped_rows: int = 0


def load_task_data(section: DataSection, seed: int) -> TaskData:
    """Reads, checks, splits and samples the data the recipe names."""
    train, dropped = read_labelled(section.train, section)
    if section.validation:
        validation, more = read_labelled(section.validation, section)
        dropped += more
    else:
        train, validation = stratified_split(train, section.validation_fraction, seed, section.train)
    labels = class_labels(train, validation, section.train)
    train = stratified_sample(train, section.max_train_rows, seed)
    require_every_class(train, labels, section)
    validation = stratified_sample(validation, section.max_validation_rows, seed + 1)
    return TaskData(train, validation, labels, section.train, dropped)


def decoding(section: DataSection) -> dict:
    """The recipe's data.encoding and data.encoding_errors as keywords of rundir.tables' readers."""
    return {"encoding": section.encoding, "errors": section.encoding_errors, "advice": DECODE_ADVICE}


def read_labelled(name: str, section: DataSection) -> tuple[TextDataset, int]:
    """(dataset, rows skipped for an empty text or label) from a file or ``demo:*``."""
    if name.startswith("demo:"):
        from .demo import read_demo

        return read_demo(name)
    records = read_records(Path(name), **decoding(section))
    return _to_dataset(records, name, section.text_column, section.label_column)


def _to_dataset(records: list[tuple[str, dict]], name: str, text_col: str, label_col: str) -> tuple[TextDataset, int]:
    require_columns(records, name, {"text": text_col, "label": label_col})
    texts, labels, dropped = [], [], 0
    for where, row in records:
        text, label = text_value(where, row, text_col), label_value(where, row, label_col)
        if text is None or label is None:
            dropped += 1
            continue
        texts.append(text)
        labels.append(label)
    if not texts:
        raise DataError(f"{name}: every row has an empty text or label")
    return TextDataset(texts, labels), dropped


def class_labels(train, validation, source: str) -> list[str]:
    """The sorted class names of a classification split; at least two, and every validation label
    among them (the same rules for texts and images)."""
    labels = sorted(set(train.labels))
    if len(labels) < 2:
        raise DataError(f"{source}: only one class ({labels[0]!r}) in the training data; need at least two")
    unseen = sorted(set(validation.labels) - set(labels))
    if unseen:
        raise DataError(f"validation labels not seen in training: {', '.join(map(repr, unseen[:5]))}")
    return labels


# The training rows saved as the run's calibration sample (data/calibration.jsonl) for static int8:
# a few hundred set activation ranges as well as thousands, and keep the export's calibration short.
CALIBRATION_ROWS = 256
CALIBRATION_SEED_OFFSET = 2  # the validation sample draws with seed + 1


def calibration_sample(train, seed: int):
    """A seeded, class-stratified sample of the training split (texts or images): static int8 calibrates on
    it, never on the validation rows that judge it."""
    return stratified_sample(train, CALIBRATION_ROWS, seed + CALIBRATION_SEED_OFFSET)


# The two below take any labelled dataset with ``labels`` and ``subset(indices)``: texts or images.

def stratified_split(data: TextDataset, fraction: float, seed: int,
                     source: str = "the data") -> tuple[TextDataset, TextDataset]:
    """A seeded split that keeps each class's share; every class keeps a training example, and a split
    that would give no validation row at all is a DataError naming the classes and their sizes."""
    by_label = _indices_by_label(data)
    rng = random.Random(seed)
    train_idx, val_idx = [], []
    for label in sorted(by_label):
        idx = by_label[label]
        rng.shuffle(idx)
        n_val = min(round(len(idx) * fraction), len(idx) - 1)
        val_idx += idx[:n_val]
        train_idx += idx[n_val:]
    if not val_idx:
        raise DataError(empty_validation(source, fraction, {k: len(v) for k, v in by_label.items()}))
    return data.subset(sorted(train_idx)), data.subset(sorted(val_idx))


def empty_validation(source: str, fraction: float, sizes: dict[str, int]) -> str:
    """Why a split gives no validation row, with each class's size and what would work."""
    counts = sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{label!r}: {n} row{'s' if n != 1 else ''}" for label, n in counts[:8])
    shown += f", and {len(counts) - 8} more" if len(counts) > 8 else ""
    said = f"{source}: data.validation_fraction = {fraction:g} gives no validation rows; every class is too small ({shown})"
    largest = counts[0][1] if counts else 0
    if largest < 2:
        return f"{said}: a class needs two rows to give one to validation; add rows or set data.validation to a file"
    needed = math.ceil(100 / largest) / 100
    return f"{said}: set data.validation_fraction to at least {needed:g}, or data.validation to a file"


def stratified_sample(data: TextDataset, limit: int, seed: int) -> TextDataset:
    """At most ``limit`` rows (0 = all), each class in proportion, order shuffled by seed. When rounding
    picks more than ``limit``, one row of each class is kept first, so no class is sampled away."""
    if limit <= 0 or len(data) <= limit:
        return data
    by_label = _indices_by_label(data)
    rng = random.Random(seed)
    firsts, rest = [], []
    for label in sorted(by_label):
        idx = by_label[label]
        rng.shuffle(idx)
        picked = idx[: max(1, round(len(idx) * limit / len(data)))]
        firsts.append(picked[0])
        rest += picked[1:]
    rng.shuffle(rest)
    return data.subset(sorted((firsts + rest)[:limit]))


def require_every_class(train, labels: list[str], section) -> None:
    """Each class must keep a training example after data.max_train_rows: a class the model never
    saw in training would be scored and exported all the same."""
    missing = sorted(set(labels) - set(train.labels))
    if missing:
        raise DataError(f"data.max_train_rows = {section.max_train_rows} leaves no training row for "
                        f"{len(missing)} of the {len(labels)} classes ({', '.join(map(repr, missing[:5]))}); "
                        f"set it to at least {len(labels)}, or 0 for every row")


def _indices_by_label(data: TextDataset) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(data.labels):
        groups[label].append(i)
    return groups


def label_counts(data: TextDataset) -> dict[str, int]:
    return dict(sorted(Counter(data.labels).items()))


def write_jsonl(data: TextDataset, path: Path) -> None:
    """The split as ``{"text", "label"}`` lines: what export validates against."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for text, label in zip(data.texts, data.labels):
            f.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")
