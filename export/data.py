"""Loads the labelled validation data an export runs on: the run's saved split, or `--data FILE`.

The rows are read by rundir.tables, the trainer's own readers, so nothing is silently misread here
either: strict UTF-8, every CSV row exactly as wide as its header, no column or JSON key named twice,
a label that is a string or an integer (never NaN, a float, a list), a text that is a string. Each
problem is one ExportError line naming the file and line.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

from ftui.rundir.errors import DataError
from ftui.rundir.tables import label_value, read_records, read_text, text_value, word_list

from .errors import ExportError

DECODE_ADVICE = "fix the file (export reads UTF-8)"
TABLE_SUFFIXES = (".csv", ".jsonl", ".json")
CLASS_ID = re.compile(r"[0-9]+")  # ASCII digits only: int() would also take "1_0", " 1" and other scripts' digits


@contextmanager
def as_export_error():
    """rundir's DataError, re-raised as the ExportError that `ftui export` and the export screen report."""
    try:
        yield
    except DataError as e:
        raise ExportError(str(e)) from None


def load_examples(path: Path, labels: list[str]) -> tuple[list[str], list[int]]:
    """(texts, class ids) from `path` (.jsonl or .csv, fields text and label); a label is a name or a class id."""
    texts, names = read_labelled(Path(path), "text", "a text")
    return texts, label_ids(names, labels)


def read_labelled(path: Path, column: str, what: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(the rows' ``column`` values, (where, label) per row) of a .csv/.jsonl validation table."""
    inputs, labels = [], []
    for where, row in read_table(path, (column, "label")):
        with as_export_error():
            value, label = text_value(where, row, column, column), label_value(where, row, "label")
        if value is None:
            raise ExportError(f"{where}: no {column}: every validation row needs {what} and a label")
        if label is None:
            raise ExportError(f"{where}: no label: every validation row needs one")
        inputs.append(value)
        labels.append((where, label))
    return inputs, labels


def read_table(path: Path, columns: tuple[str, ...]) -> list[tuple[str, dict]]:
    """(where, row) of each row of a .csv/.jsonl validation file; every row must hold ``columns``."""
    check_file(path, TABLE_SUFFIXES, "validation data must be .csv or .jsonl with " + " and ".join(columns))
    with as_export_error():
        records = read_records(path, advice=DECODE_ADVICE)
    if not records:
        raise ExportError(f"{path}: the validation file holds no rows")
    for where, row in records:
        missing = [c for c in columns if c not in row]
        if missing:
            present = ", ".join(map(str, row)) or "none"
            raise ExportError(f"{where}: no {' or '.join(map(repr, missing))} column (columns: {present}); "
                              f"export reads {' and '.join(columns)}")
    return records


def check_file(path: Path, suffixes: tuple[str, ...], needs: str) -> None:
    if not path.is_file():
        raise ExportError(f"{path}: no such validation file")
    if path.suffix.lower() not in suffixes:
        raise ExportError(f"{path}: {needs}")


def read_validation_text(path: Path) -> str:
    """A validation file's text, strict UTF-8 (an undecodable byte names its line); empty is an error."""
    with as_export_error():
        text = read_text(path, advice=DECODE_ADVICE)
    if not text.strip():
        raise ExportError(f"{path}: the validation file is empty")
    return text


def read_word_lists(where: str, row: dict) -> tuple[list[str], list[str]]:
    """A tagged sentence's words and tags: equal-length lists of non-blank strings, at least one word."""
    with as_export_error():
        words, tags = word_list(where, row, "tokens", "tokens"), word_list(where, row, "tags", "tags")
    if len(words) != len(tags) or not words:
        raise ExportError(f"{where}: {len(words)} tokens but {len(tags)} tags (each token needs one tag)")
    return words, tags


def label_ids(names: list[tuple[str, str]], labels: list[str]) -> list[int]:
    """The class id of each (where, label): a label name of the model, or a class id written as an integer."""
    by_name = {name: i for i, name in enumerate(labels)}
    return [label_id(label, by_name, where) for where, label in names]


def label_id(label: str, by_name: dict[str, int], where: str) -> int:
    if label in by_name:
        return by_name[label]
    if CLASS_ID.fullmatch(label) and int(label) < len(by_name):
        return int(label)
    raise ExportError(f"{where}: label {label!r} is not one of the model's labels {list(by_name)}")
