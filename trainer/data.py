"""Task data: labelled texts from CSV, TSV, JSONL or Parquet files, or a built-in demo corpus.

Returns plain Python lists (no torch): a ``TextDataset`` for train and one for validation,
with the sorted label names that become the model's ``id2label``.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError
from .recipe import DataSection

SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}


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
        train, validation = stratified_split(train, section.validation_fraction, seed)
    labels = class_labels(train, validation, section.train)
    train = stratified_sample(train, section.max_train_rows, seed)
    validation = stratified_sample(validation, section.max_validation_rows, seed + 1)
    return TaskData(train, validation, labels, section.train, dropped)


def read_labelled(name: str, section: DataSection) -> tuple[TextDataset, int]:
    """(dataset, rows dropped for an empty text or label) from a file or ``demo:*``."""
    if name.startswith("demo:"):
        from .demo_data import load_demo

        return load_demo(name), 0
    rows = read_rows(Path(name), section)
    return _to_dataset(rows, name, section.text_column, section.label_column)


def read_rows(path: Path, section: DataSection) -> list[dict]:
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path}: unsupported file type {path.suffix!r} (use .csv, .tsv, .jsonl or .parquet)")
    if not path.exists():
        raise DataError(f"{path}: no such data file")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    if kind == "parquet":
        return _read_parquet(path)
    text = _read_text(path, section.encoding, section.encoding_errors)
    if not text.strip():
        raise DataError(f"{path}: the file is empty")
    return _read_jsonl(path, text) if kind == "jsonl" else _read_delimited(path, text, kind)


def _read_text(path: Path, encoding: str, errors: str) -> str:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    try:
        return raw.decode(encoding, errors=errors)
    except LookupError:
        raise DataError(f"data.encoding {encoding!r} is not a known text encoding") from None
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(f"{path}: line {line} is not valid {encoding} (byte {raw[e.start]:#04x}); "
                        f"fix the file, or set data.encoding_errors = \"replace\" or data.encoding") from None


def _read_delimited(path: Path, text: str, kind: str) -> list[dict]:
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if kind == "tsv" else ",")
    try:
        rows = list(reader)
    except csv.Error as e:
        raise DataError(f"{path}: not valid {kind.upper()} ({e})") from None
    if not reader.fieldnames:
        raise DataError(f"{path}: no header row")
    return rows


def _read_jsonl(path: Path, text: str) -> list[dict]:
    return [row for _, row in read_json_lines(path, text)]


def read_json_lines(path: Path, text: str) -> list[tuple[int, dict]]:
    """(line number, object) for each non-blank line; a line that is no JSON object is a DataError."""
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise DataError(f"{path}: line {number} is not valid JSON") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}: line {number} is not a JSON object")
        rows.append((number, row))
    return rows


def _read_parquet(path: Path) -> list[dict]:
    import pyarrow.parquet as pq

    from ftui.models.errors import first_line

    try:
        return pq.read_table(path).to_pylist()
    except Exception as e:  # pyarrow raises ArrowInvalid/OSError for a file that is no parquet
        raise DataError(f"{path}: cannot read as Parquet ({first_line(e)})") from None


def require_columns(rows: list[dict], name, columns: dict[str, str]) -> None:
    """Rows must exist and hold each {what: column} (the recipe key is data.<what>_column)."""
    if not rows:
        raise DataError(f"{name}: no data rows")
    present = set(rows[0])
    for what, col in columns.items():
        if col not in present:
            raise DataError(f"{name}: no {what} column {col!r} (columns: {', '.join(map(str, sorted(present)))}); "
                            f"set data.{what}_column")


def _to_dataset(rows: list[dict], name: str, text_col: str, label_col: str) -> tuple[TextDataset, int]:
    require_columns(rows, name, {"text": text_col, "label": label_col})
    texts, labels, dropped = [], [], 0
    for row in rows:
        text, label = row.get(text_col), row.get(label_col)
        if text is None or label is None or not str(text).strip() or str(label).strip() == "":
            dropped += 1
            continue
        texts.append(str(text))
        labels.append(_label_name(label))
    if not texts:
        raise DataError(f"{name}: every row has an empty text or label")
    return TextDataset(texts, labels), dropped


def _label_name(label) -> str:
    if isinstance(label, float) and label.is_integer():
        label = int(label)
    return str(label).strip()


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


# The two below take any labelled dataset with ``labels`` and ``subset(indices)``: texts or images.

def stratified_split(data: TextDataset, fraction: float, seed: int) -> tuple[TextDataset, TextDataset]:
    """A seeded split that keeps each class's share; every class keeps a training example."""
    by_label = _indices_by_label(data)
    rng = random.Random(seed)
    train_idx, val_idx = [], []
    for label in sorted(by_label):
        idx = by_label[label]
        rng.shuffle(idx)
        n_val = min(round(len(idx) * fraction), len(idx) - 1)
        val_idx += idx[:n_val]
        train_idx += idx[n_val:]
    return data.subset(sorted(train_idx)), data.subset(sorted(val_idx))


def stratified_sample(data: TextDataset, limit: int, seed: int) -> TextDataset:
    """At most ``limit`` rows (0 = all), each class in proportion, order shuffled by seed."""
    if limit <= 0 or len(data) <= limit:
        return data
    by_label = _indices_by_label(data)
    rng = random.Random(seed)
    chosen = []
    for label in sorted(by_label):
        idx = by_label[label]
        rng.shuffle(idx)
        chosen += idx[: max(1, round(len(idx) * limit / len(data)))]
    rng.shuffle(chosen)
    return data.subset(sorted(chosen[:limit]))


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
