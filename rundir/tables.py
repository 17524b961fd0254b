"""Rows of a data table (CSV, TSV, JSONL, Parquet), each with the place it came from, and the checks on
their values that every task shares: nothing in a file is ever silently misread.

A row is ``(where, row)``: ``where`` names the file and line (``data.csv: line 7``; ``row 7`` for Parquet)
so each error can say exactly what to fix. A CSV row with the wrong number of fields, a header or a JSON
object that names a column twice, a label that is no string or integer (NaN, a float, a list, ...) or
a text that is no string is a ``DataError``; an empty text or label is a row skipped by design.

Shared by the trainer and export (standard library only; pyarrow is imported when a Parquet file is read).
The readers decode as their caller says: the trainer passes the recipe's data.encoding and
data.encoding_errors, export reads strict UTF-8.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from .errors import DataError, first_line

FIX_THE_FILE = "fix the file"

SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
LINE_BREAK = re.compile(r"\r\n|\r|\n")  # not str.splitlines(): U+2028 and friends are valid inside JSON strings


def read_records(path: Path, *, encoding: str = "utf-8", errors: str = "strict",
                 advice: str = FIX_THE_FILE) -> list[tuple[str, dict]]:
    """(where, row) for each data row of a CSV, TSV, JSONL or Parquet file, decoded with ``encoding`` and
    ``errors``; ``advice`` ends the message for an undecodable byte (how the caller's user can fix it)."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path}: unsupported file type {path.suffix!r} (use .csv, .tsv, .jsonl or .parquet)")
    if not path.exists():
        raise DataError(f"{path}: no such data file")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    if kind == "parquet":
        return read_parquet(path)
    text = read_text(path, encoding=encoding, errors=errors, advice=advice)
    if not text.strip():
        raise DataError(f"{path}: the file is empty")
    if kind == "jsonl":
        return [(f"{path}: line {n}", row) for n, row in read_json_lines(path, text)]
    return read_delimited(path, text, kind)


def read_text(path: Path, *, encoding: str = "utf-8", errors: str = "strict", advice: str = FIX_THE_FILE) -> str:
    """The file decoded as the caller says; with errors = "strict" an undecodable byte names its line."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    try:
        text = raw.decode(encoding, errors=errors)
    except LookupError:
        raise DataError(f"{path}: {encoding!r} is not a known text encoding") from None
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(f"{path}: line {line} is not valid {encoding} (byte {raw[e.start]:#04x}); {advice}") from None
    except UnicodeError as e:  # a codec that fails without a position (idna, ...)
        raise DataError(f"{path}: cannot decode as {encoding} ({e})") from None
    return text.removeprefix("\ufeff")  # a byte-order mark (Excel's UTF-8 CSVs) is not part of the header


def split_lines(text: str) -> list[str]:
    """The file's lines as an editor numbers them (\\n, \\r\\n or \\r ends a line)."""
    return LINE_BREAK.split(text)


def read_delimited(path: Path, text: str, kind: str) -> list[tuple[str, dict]]:
    """CSV/TSV rows under the header; each row must have exactly as many fields as the header."""
    delimiter = "\t" if kind == "tsv" else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records, header = [], None
    try:
        start = 1
        for fields in reader:
            line, start = start, reader.line_num + 1  # a quoted field may span lines: the row starts here
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # a blank line
            if header is None:
                header = check_header(path, [name.strip() for name in fields])
                continue
            if len(fields) != len(header):
                raise DataError(f"{path}: line {line}: {width_error(len(fields), header, kind)}")
            records.append((f"{path}: line {line}", dict(zip(header, fields))))
    except csv.Error as e:
        if "unexpected end of data" in str(e):
            raise DataError(f"{path}: line {start}: a double quote opened here is never closed") from None
        raise DataError(f"{path}: line {start}: not valid {kind.upper()} ({e})") from None
    if header is None:
        raise DataError(f"{path}: no header row")
    return records


def check_header(path, names: list[str]) -> list[str]:
    """A header (or Parquet schema) that names a column twice is an error: which one would be read?"""
    seen = set()
    for name in names:
        if name in seen:
            raise DataError(f"{path}: column {name!r} appears twice in the header; give each column its own name")
        seen.add(name)
    return names


def width_error(got: int, header: list[str], kind: str) -> str:
    names = ", ".join(header[:8]) + (", ..." if len(header) > 8 else "")
    said = f"{got} field{'s' if got != 1 else ''} where the header has {len(header)} ({names})"
    if got > len(header):
        sep = "tab" if kind == "tsv" else "comma"
        return f"{said}; a field that holds a {sep} must be in double quotes"
    return f"{said}; a field is missing"


def read_json_lines(path: Path, text: str) -> list[tuple[int, dict]]:
    """(line number, object) for each non-blank line; a line that is no JSON object is a DataError."""
    rows = []
    for number, line in enumerate(split_lines(text), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line, object_pairs_hook=lambda pairs, n=number: unique_keys(path, n, pairs))
        except (ValueError, RecursionError):
            raise DataError(f"{path}: line {number} is not valid JSON") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}: line {number} is not a JSON object")
        rows.append((number, row))
    return rows


def unique_keys(path, number: int, pairs: list[tuple[str, object]]) -> dict:
    """A JSON object as a dict; a key given twice (json.loads would keep the last silently) is an error."""
    row = {}
    for key, value in pairs:
        if key in row:
            raise DataError(f"{path}: line {number}: key {key!r} appears twice in the object")
        row[key] = value
    return row


def read_parquet(path: Path) -> list[tuple[str, dict]]:
    import pyarrow.parquet as pq

    try:
        check_header(path, list(pq.read_schema(path).names))
        rows = pq.read_table(path).to_pylist()
    except DataError:
        raise
    except Exception as e:  # pyarrow raises ArrowInvalid/OSError for a file that is no parquet
        raise DataError(f"{path}: cannot read as Parquet ({first_line(e)})") from None
    return [(f"{path}: row {n}", row) for n, row in enumerate(rows, 1)]


def require_columns(records: list[tuple[str, dict]], name, columns: dict[str, str]) -> None:
    """Rows must exist and the first must hold each {what: column} (the recipe key is data.<what>_column)."""
    if not records:
        raise DataError(f"{name}: no data rows")
    for what, col in columns.items():
        if col not in records[0][1]:
            raise DataError(missing_column(name, what, col, records[0][1]))


def missing_column(where, what: str, column: str, row: dict) -> str:
    present = ", ".join(map(str, sorted(row)))
    return f"{where}: no {what} column {column!r} (columns: {present}); set data.{what}_column"


def field(where: str, row: dict, column: str, what: str):
    """The row's value in ``column``; a JSON row without the key is an error (not an empty value)."""
    if column not in row:
        raise DataError(missing_column(where, what, column, row))
    return row[column]


def text_value(where: str, row: dict, column: str, what: str = "text") -> str | None:
    """The row's text (or image path), or None when it is empty (null or blank): a row skipped by design."""
    value = field(where, row, column, what)
    if value is None:
        return None
    if not isinstance(value, str):
        article = "an" if what[0] in "aeiou" else "a"
        raise DataError(f"{where}: column {column!r} holds {describe(value)}; {article} {what} must be a string")
    return value if value.strip() else None


def label_value(where: str, row: dict, column: str) -> str | None:
    """The row's label name, or None when it is empty. Strings and integers are labels (an integral float,
    as Parquet stores integers with nulls, reads as its integer); NaN, other floats, booleans, lists and
    objects are errors, not classes."""
    value = field(where, row, column, "label")
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataError(f"{where}: column {column!r} holds {describe(value)}; a label must be a string or an integer")
    name = str(value).strip()
    if "\n" in name or "\r" in name:
        raise DataError(f"{where}: column {column!r} holds a label with a line break in it: "
                        "is a quote left open on an earlier line?")
    return name or None


def word_list(where: str, row: dict, column: str, what: str) -> list[str]:
    """The row's list of words (or tags): strings, none of them blank (a blank word has no word
    pieces, so its tag would silently go missing)."""
    value = field(where, row, column, what)
    if not isinstance(value, list):
        raise DataError(f"{where}: {column!r} must be a list of strings, not {describe(value)}")
    for i, item in enumerate(value, 1):
        if not isinstance(item, str):
            raise DataError(f"{where}: {column!r} item {i} is {describe(item)}; {what} must be strings")
        if not item.strip():
            raise DataError(f"{where}: {column!r} item {i} is blank; every {what[:-1]} needs a character")
    return value


def describe(value) -> str:
    """A JSON-ish name for a value in an error message (short even for a huge one)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "-Infinity" if value < 0 else "Infinity"
        return f"the number {value!r}"
    if isinstance(value, int):
        return f"the number {value!r}" if value.bit_length() < 128 else "a very large integer"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    return f"a {type(value).__name__} value"
