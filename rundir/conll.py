"""CoNLL-style tagged sentences, read the same way by the trainer and by export: one ``token<whitespace>tag``
a line (or CoNLL-2003's ``token POS chunk tag``: the token first, the tag last), a blank line between
sentences, ``-DOCSTART-`` lines skipped. Every tag must be a BIO tag. Standard library only.
"""

from __future__ import annotations

from .errors import DataError
from .tables import split_lines

CONLL_SUFFIXES = (".conll", ".txt", ".bio", ".tsv")


def read_conll(text: str, path) -> list[tuple[int, list[str], list[str]]]:
    """(first line, words, tags) of each sentence; a DataError names the line of a bad field count or tag.

    Every line has as many fields as the file's first one, so ``token tag`` files and CoNLL-2003's
    ``token POS chunk tag`` both read, and a token with a space in it is an error naming its line.
    """
    sentences, words, tags, start, width = [], [], [], 1, None
    for number, line in enumerate(split_lines(text), 1):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            if words:
                sentences.append((start, words, tags))
                words, tags = [], []
            continue
        if not words:
            start = number
        width = width or max(len(fields), 2)
        if len(fields) != width:
            raise DataError(f"{path}:line {number}: {conll_width_error(width, len(fields))}")
        check_tag(fields[-1], f"{path}:line {number}")
        words.append(fields[0])
        tags.append(fields[-1])
    if words:
        sentences.append((start, words, tags))
    if not sentences:
        raise DataError(f"{path}: no tagged sentences")
    return sentences


def conll_width_error(width: int, got: int) -> str:
    if width == 2:
        return f"expected 2 fields (token and tag), got {got}"
    return f"expected {width} fields like the file's first line (token first, tag last), got {got}"


def check_tag(tag: str, where: str) -> None:
    """BIO tags only: ``O``, ``B-TYPE`` or ``I-TYPE`` (no whitespace: ``B-PER `` would be a tag of its own)."""
    if tag == "O" or (tag[:2] in ("B-", "I-") and len(tag) > 2 and not any(c.isspace() for c in tag)):
        return
    raise DataError(f"{where}: tag {tag!r} is not a BIO tag (use O, B-TYPE or I-TYPE)")
