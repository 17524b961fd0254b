"""Loads the labelled texts validation runs on: the run's saved split, or a CSV/JSONL file with text,label."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from .errors import ExportError


def load_examples(path: Path, labels: list[str]) -> tuple[list[str], list[int]]:
    """(texts, class ids) from `path` (.jsonl or .csv, fields text and label); a label is a name or a class id."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: no such validation file")
    if path.suffix.lower() == ".csv":
        rows = _read_csv(path)
    elif path.suffix.lower() in (".jsonl", ".json"):
        rows = _read_jsonl(path)
    else:
        raise ExportError(f"{path}: validation data must be .csv or .jsonl with text and label")
    if not rows:
        raise ExportError(f"{path}: the validation file holds no rows")
    by_name = {name: i for i, name in enumerate(labels)}
    texts, ids = [], []
    for n, (text, label) in enumerate(rows, 1):
        ids.append(_label_id(label, by_name, len(labels), path, n))
        texts.append(text)
    return texts, ids


def _read_jsonl(path: Path) -> list[tuple[str, object]]:
    return [(str(text), label) for _, (text, label) in read_jsonl_fields(path, ("text", "label"))]


def _read_csv(path: Path) -> list[tuple[str, object]]:
    return read_csv_fields(path, ("text", "label"))


def read_jsonl_fields(path: Path, fields: tuple[str, ...], convert=tuple, what: str = "") -> list[tuple[int, tuple]]:
    """(line number, ``convert(the fields' values)``) for each non-blank line; a line that is no JSON object
    holding them, or that ``convert`` rejects (TypeError/ValueError), is an ExportError naming ``what``."""
    rows = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                rows.append((n, convert(obj[k] for k in fields)))
            except (ValueError, KeyError, TypeError):
                raise ExportError(f"{path}:{n}: expected a JSON object with {what or ' and '.join(fields)}") from None
    return rows


def read_csv_fields(path: Path, fields: tuple[str, ...]) -> list[tuple]:
    """The fields' values of each row of a CSV whose header names them (an empty first field reads as "")."""
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not set(fields) <= set(reader.fieldnames):
            raise ExportError(f"{path}: CSV needs a header with {' and '.join(fields)} columns")
        return [(row[fields[0]] or "", *(row[k] for k in fields[1:])) for row in reader]


def _label_id(label: object, by_name: dict[str, int], n_labels: int, path: Path, line: int) -> int:
    if isinstance(label, str) and label in by_name:
        return by_name[label]
    try:
        value = int(str(label))
    except ValueError:
        value = -1
    if 0 <= value < n_labels and not isinstance(label, bool):
        return value
    raise ExportError(f"{path}:{line}: label {label!r} is not one of the model's labels {list(by_name)}")
