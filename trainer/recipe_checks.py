"""A recipe's values checked: each value as it is read (type, finite, text), then the whole recipe
(choices, signs, ranges, names) before any work starts. Every problem is a one-line RecipeError
naming the key."""

from __future__ import annotations

import codecs
import math
import unicodedata
from dataclasses import fields

from .engine.hf_args import check_not_owned
from .engine.trackers import parse_report_to
from .errors import RecipeError
from .tasks import DEMO_DATA, TASKS

FREE_SECTIONS = ("training_args", "model_config")  # tables of any keys; every other section is a dataclass

CHOICES = {
    ("task", "type"): tuple(TASKS),
    ("train", "scheduler"): ("linear", "cosine", "constant_with_warmup", "constant"),
    ("train", "precision"): ("auto", "fp32", "bf16", "fp16"),
    ("train", "strategy"): ("full", "frozen", "llrd", "lora"),
    ("data", "encoding_errors"): ("strict", "replace", "ignore"),
}
POSITIVE = {("train", "lr"), ("train", "batch_size"), ("train", "eval_batch_size"), ("train", "grad_accum"),
            ("train", "epochs"), ("train", "logging_steps"), ("data", "max_length"), ("checkpoint", "keep"),
            ("train", "lora_r"), ("train", "lora_alpha")}
NON_NEGATIVE = {("data", "max_train_rows"), ("data", "max_validation_rows"), ("train", "weight_decay"),
                ("train", "max_grad_norm"), ("train", "eval_every"), ("checkpoint", "every"),
                ("early_stopping", "patience"), ("train", "threads"), ("train", "warmup_ratio"),
                ("data", "image_size"), ("early_stopping", "min_delta")}
# (section, key): (test, what the value must be). The seed bound is numpy's (torch takes the same).
RANGES = {
    ("train", "warmup_ratio"): (lambda v: 0 <= v <= 1, "in [0, 1] (a share of the training steps)"),
    ("train", "lora_dropout"): (lambda v: 0 <= v < 1, "in [0, 1)"),
    ("train", "label_smoothing"): (lambda v: 0 <= v < 1, "in [0, 1)"),
    ("model", "dropout"): (lambda v: v == -1 or 0 <= v < 1, "-1 (the model's own) or a probability in [0, 1)"),
    ("train", "llrd_decay"): (lambda v: 0 < v <= 1, "in (0, 1]"),
    ("data", "validation_fraction"): (lambda v: 0 < v < 1, "between 0 and 1"),
    ("train", "max_steps"): (lambda v: v == -1 or v > 0, "-1 (train for train.epochs) or greater than 0"),
    ("run", "seed"): (lambda v: 0 <= v < 2**32, "an integer from 0 to 4294967295 (what numpy and torch seed with)"),
    ("train", "threads"): (lambda v: v <= 1024, "at most 1024"),
    ("data", "image_size"): (lambda v: v <= 8192, "at most 8192 pixels"),
}
INT_MAX = 2**31 - 1  # counts and sizes reach torch and numpy as C ints: more than this is a typo


def plain_value(value, dotted: str, source: str, depth: int = 0):
    """A value TOML can save and read back as itself: a finite number, text, a list or a table."""
    if depth > 4:
        raise RecipeError(f"{source}: {dotted} is nested too deeply")
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) >= 2**63:
            raise RecipeError(f"{source}: {dotted} = {short(value)} is too large")
        return value
    if isinstance(value, float):
        return finite(value, dotted, source)
    if isinstance(value, str):
        check_text(value, dotted, source)
        return value
    if isinstance(value, list):
        return [plain_value(v, dotted, source, depth + 1) for v in value]
    if isinstance(value, dict):
        for k in value:
            check_text(k, f"{dotted} key", source)
        return {k: plain_value(v, f"{dotted}.{k}", source, depth + 1) for k, v in value.items()}
    raise RecipeError(f"{source}: {dotted} must be a number, true/false, a string, a list or a table, "
                      f"got {short(value)}")


def coerce(value, type_name: str, dotted: str, source: str):
    ok = {
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
    }[type_name]
    if not ok:
        raise RecipeError(f"{source}: {dotted} must be {_article(type_name)}, got {short(value)}")
    if type_name == "float":
        return finite(value, dotted, source)
    if type_name == "str":
        check_text(value, dotted, source)
    return value


def finite(value, dotted: str, source: str) -> float:
    """A float that is a number: inf and nan (TOML's, or 1e400) train nothing."""
    try:
        number = float(value)
    except OverflowError:  # a TOML integer too large for a float
        number = math.inf
    if not math.isfinite(number):
        raise RecipeError(f"{source}: {dotted} must be a finite number, got {short(value)}")
    return number


def check_text(value: str, dotted: str, source: str) -> None:
    """Strings become paths, names and column labels: UTF-8 text without control characters."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: bytes in argv that were not UTF-8
        raise RecipeError(f"{source}: {dotted} is not valid UTF-8 text, got {short(value)}") from None
    if any(unicodedata.category(c) == "Cc" and c != "\t" for c in value):
        raise RecipeError(f"{source}: {dotted} must not contain control characters (NUL, newline, ...), "
                          f"got {short(value)}")


def short(value, limit: int = 80) -> str:
    """A value's repr for an error message, shortened when long (a recipe value can be anything)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _article(type_name: str) -> str:
    return {"str": "a string", "bool": "true or false", "int": "an integer", "float": "a number"}[type_name]


def validate(recipe: Recipe) -> None:
    """Every value in range, before anything reads data or loads a model (RecipeError names the key)."""
    for (section, key), allowed in CHOICES.items():
        value = getattr(getattr(recipe, section), key)
        if value not in allowed:
            raise RecipeError(f"{section}.{key} = {short(value)} is not one of: {', '.join(allowed)}")
    _check_numbers(recipe)
    _check_names(recipe)
    parse_report_to(recipe.train.report_to)
    check_not_owned(recipe.training_args)
    metrics = TASKS[recipe.task.type].metrics
    if recipe.early_stopping.metric not in metrics:
        raise RecipeError(f"early_stopping.metric = {recipe.early_stopping.metric!r} is not one of: "
                          f"{', '.join(metrics)} ({recipe.task.type})")
    demo = DEMO_DATA.get(recipe.data.train)
    if demo is not None and demo.task != recipe.task.type:
        raise RecipeError(f"data.train = {recipe.data.train!r} is {demo.task} data, but task.type is "
                          f"{recipe.task.type!r} (its demo data: {TASKS[recipe.task.type].default_data})")
    if not recipe.model.name:
        raise RecipeError("model.name must not be empty")
    if not recipe.data.train:
        raise RecipeError("data.train must not be empty")


def _check_numbers(recipe: Recipe) -> None:
    """Signs, ranges and magnitudes; values set after loading (``--name``) are checked again too."""
    for section in typed_sections(recipe):
        values = getattr(recipe, section)
        for f in fields(values):
            value, dotted = getattr(values, f.name), f"{section}.{f.name}"
            if f.type == "float":
                finite(value, dotted, "recipe")
            if f.type == "int" and (section, f.name) != ("run", "seed") and value > INT_MAX:
                raise RecipeError(f"{dotted} = {value} is too large (at most {INT_MAX})")
    for section, key in POSITIVE:
        if not getattr(getattr(recipe, section), key) > 0:
            raise RecipeError(f"{section}.{key} must be greater than 0")
    for section, key in NON_NEGATIVE:
        if getattr(getattr(recipe, section), key) < 0:
            raise RecipeError(f"{section}.{key} must not be negative")
    for (section, key), (ok, words) in RANGES.items():
        value = getattr(getattr(recipe, section), key)
        if not ok(value):
            raise RecipeError(f"{section}.{key} = {short(value)} must be {words}")


def _is_text_encoding(name: str) -> bool:
    """Whether Python can decode bytes with ``name`` (rot13, hex and "undefined" are codecs, not this)."""
    try:
        if not getattr(codecs.lookup(name), "_is_text_encoding", True):
            return False
        codecs.getincrementaldecoder(name)().decode(b"", final=True)
    except (LookupError, UnicodeError):
        return False
    return True


def _check_names(recipe: Recipe) -> None:
    """Strings that must name something: a text encoding, a run folder."""
    for section in typed_sections(recipe):
        values = getattr(recipe, section)
        for f in fields(values):
            if f.type == "str":
                check_text(getattr(values, f.name), f"{section}.{f.name}", "recipe")
    encoding = recipe.data.encoding
    if not _is_text_encoding(encoding):
        raise RecipeError(f"data.encoding = {short(encoding)} is not a text encoding Python knows "
                          "(e.g. utf-8, latin-1, cp1252)") from None
    name = recipe.run.name
    if "/" in name or "\\" in name or name in (".", "..") or len(name.encode()) > 200:
        raise RecipeError(f"run.name = {short(name)} must be a plain folder name: no / or \\, "
                          "not . or .., at most 200 bytes")


def typed_sections(recipe) -> list[str]:
    """The recipe's dataclass sections, in order (everything but the free-form tables)."""
    return [f.name for f in fields(recipe) if f.name not in FREE_SECTIONS]
