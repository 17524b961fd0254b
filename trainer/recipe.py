"""The recipe: one TOML file that says everything a run needs, validated before any work starts.

Sections and keys are the dataclasses below; ``ftui init`` writes them as a commented template.
Unknown keys, wrong types and bad values are one-line ``RecipeError``s. No torch here.
Two sections are free-form: ``[training_args]``, TrainingArguments fields ftui does not set itself
(checked against transformers in ``trainer/engine/hf_args.py``), and ``[model_config]``, keys of the
model's config.json (checked against it in ``models/config_overrides.py``), both before a run
directory exists.
"""

from __future__ import annotations

import codecs
import dataclasses
import math
import tomllib
import unicodedata
from dataclasses import dataclass, field, fields
from pathlib import Path

from .errors import RecipeError
from .engine.hf_args import check_not_owned
from .tasks import DEFAULT_TASK, DEMO_DATA, TASKS
from .engine.trackers import parse_report_to


@dataclass
class ModelSection:
    name: str = ""                   # preset (ftui models), local HF folder, or hub id; empty = the task's default
    trust_remote_code: bool = False  # run code shipped with a hub model: only for models you trust
    dropout: float = -1.0            # every dropout probability in the model's config; -1 = the model's own


@dataclass
class DataSection:
    train: str = ""                  # a file, folder or demo:* (ftui models lists them); empty = the task's demo
    validation: str = ""             # a separate file; empty = a stratified split of train
    text_column: str = "text"
    label_column: str = "label"
    tokens_column: str = "tokens"    # token-classification JSONL/Parquet: each row's list of words
    tags_column: str = "tags"        # token-classification JSONL/Parquet: each row's list of tags (BIO)
    image_column: str = "image"      # image-classification CSV/JSONL: image path, relative to the file
    image_size: int = 0              # image-classification: input side in pixels; 0 = the processor's
    augment: bool = True             # image-classification: random resized crop, training only
    augment_flip: bool = False       # image-classification, with augment: mirror left-right (photos yes, digits no)
    validation_fraction: float = 0.2
    max_train_rows: int = 4000       # 0 = all rows (a stratified, seeded sample otherwise)
    max_validation_rows: int = 1000  # 0 = all rows
    max_length: int = 128            # tokens; longer texts are truncated
    encoding: str = "utf-8"
    encoding_errors: str = "strict"  # "replace" to read files with a few undecodable bytes


@dataclass
class TaskSection:
    type: str = DEFAULT_TASK  # a name in the task table (ftui.rundir.tasks.TASKS; `ftui models` lists them)


@dataclass
class TrainSection:
    epochs: float = 1.0
    max_steps: int = -1              # > 0 overrides epochs
    lr: float = 1e-4                 # peak learning rate
    batch_size: int = 32
    eval_batch_size: int = 128
    grad_accum: int = 1
    warmup_ratio: float = 0.06
    scheduler: str = "linear"        # linear | cosine | constant_with_warmup
    weight_decay: float = 0.01
    label_smoothing: float = 0.0     # share of the target spread over the other classes (0 = off)
    max_grad_norm: float = 1.0
    precision: str = "auto"          # auto (bf16/fp16 on GPU, fp32 on CPU) | fp32 | bf16 | fp16
    strategy: str = "full"           # full | frozen (head only) | llrd (layer-wise lr decay) | lora
    llrd_decay: float = 0.9          # with strategy = "llrd": lr multiplier per layer down the stack
    lora_r: int = 8                  # with strategy = "lora": rank of the low-rank adapters
    lora_alpha: float = 16.0         # with strategy = "lora": adapter scaling is alpha / r
    lora_dropout: float = 0.05       # with strategy = "lora": dropout on the adapter input
    lora_targets: str = ""           # with strategy = "lora": module names, comma-separated; empty = usual ones
    group_by_length: bool = True     # batches of similar length: less padding, faster
    logging_steps: int = 10
    eval_every: int = 0              # steps between evaluations; 0 = once an epoch
    threads: int = 0                 # CPU threads for torch; 0 = torch's default
    report_to: str = "none"          # trackers, comma-separated: tensorboard, wandb, mlflow, ... | all | none


@dataclass
class EarlyStoppingSection:
    metric: str = ""                 # accuracy | f1_macro | loss; NER: f1 | precision | recall; empty = task's
    patience: int = 0                # evaluations without improvement before stopping; 0 = off
    min_delta: float = 0.0


@dataclass
class CheckpointSection:
    every: int = 0                   # steps between checkpoints; 0 = at each evaluation
    keep: int = 2                    # newest checkpoints kept (the best one is always kept)


@dataclass
class RunSection:
    seed: int = 42
    output_dir: str = "runs"
    name: str = ""                   # empty = <model>-<data>-<yyyymmdd-hhmmss>


@dataclass
class Recipe:
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    task: TaskSection = field(default_factory=TaskSection)
    train: TrainSection = field(default_factory=TrainSection)
    early_stopping: EarlyStoppingSection = field(default_factory=EarlyStoppingSection)
    checkpoint: CheckpointSection = field(default_factory=CheckpointSection)
    run: RunSection = field(default_factory=RunSection)
    training_args: dict = field(default_factory=dict)  # free-form: {TrainingArguments field: value}
    model_config: dict = field(default_factory=dict)  # free-form: {model config.json key: value}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


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
FREE_SECTIONS = ("training_args", "model_config")  # tables of any keys; every other section is a dataclass
TYPED_SECTIONS = tuple(f.name for f in fields(Recipe) if f.name not in FREE_SECTIONS)


def load_recipe(path: str | Path | None = None, overrides: dict | None = None) -> Recipe:
    """Defaults, then the TOML file, then overrides ({"section.key": value}); validated."""
    raw: dict = {}
    if path is not None:
        raw = read_toml(Path(path))
    return build_recipe(raw, overrides, source=str(path) if path else "recipe")


def build_recipe(raw: dict, overrides: dict | None = None, source: str = "recipe") -> Recipe:
    """A recipe from parsed TOML and overrides, validated (a sweep builds each candidate's this way)."""
    recipe = from_dict(raw, source=source)
    for dotted, value in (overrides or {}).items():
        set_value(recipe, dotted, value)
    fill_task_defaults(recipe)
    validate(recipe)
    return recipe


def fill_task_defaults(recipe: Recipe) -> None:
    """Empty model, data and metric keys become the task's defaults, so the saved recipe names them."""
    task = TASKS.get(recipe.task.type)
    if task is None:
        return  # validate() says which task types exist
    if not recipe.model.name and not task.default_model:
        raise RecipeError(f"{recipe.task.type} has no offline default model: set model.name to a local HF "
                          "folder or a hub id (e.g. microsoft/resnet-50 on a machine with internet)")
    recipe.model.name = recipe.model.name or task.default_model
    recipe.data.train = recipe.data.train or task.default_data
    recipe.early_stopping.metric = recipe.early_stopping.metric or task.metrics[0]


def read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise RecipeError(f"{path}: no such recipe file") from None
    except IsADirectoryError:
        raise RecipeError(f"{path}: is a directory, not a recipe file") from None
    except tomllib.TOMLDecodeError as e:
        raise RecipeError(f"{path}: not valid TOML ({e})") from None
    except UnicodeDecodeError:
        raise RecipeError(f"{path}: not UTF-8 text") from None


def from_dict(raw: dict, source: str = "recipe") -> Recipe:
    recipe = Recipe()
    sections = {f.name for f in fields(Recipe)}
    for name, values in raw.items():
        if name not in sections:
            raise RecipeError(f"{source}: unknown section [{name}] (known: {', '.join(sorted(sections))})")
        if not isinstance(values, dict):
            raise RecipeError(f"{source}: [{name}] must be a table of keys")
        for key, value in values.items():
            set_value(recipe, f"{name}.{key}", value, source)
    return recipe


def _set_free(table: dict, dotted: str, value, source: str) -> None:
    """A key of a free-form section: an identifier, with a TOML value (checked in depth later)."""
    key = dotted.partition(".")[2]
    if not key.isidentifier():
        raise RecipeError(f"{source}: {_short(dotted)} is not a setting name (letters, digits and _)")
    table[key] = _plain_value(value, dotted, source)


def _plain_value(value, dotted: str, source: str, depth: int = 0):
    """A value TOML can save and read back as itself: a finite number, text, a list or a table."""
    if depth > 4:
        raise RecipeError(f"{source}: {dotted} is nested too deeply")
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) >= 2**63:
            raise RecipeError(f"{source}: {dotted} = {_short(value)} is too large")
        return value
    if isinstance(value, float):
        return _finite(value, dotted, source)
    if isinstance(value, str):
        _check_text(value, dotted, source)
        return value
    if isinstance(value, list):
        return [_plain_value(v, dotted, source, depth + 1) for v in value]
    if isinstance(value, dict):
        for k in value:
            _check_text(k, f"{dotted} key", source)
        return {k: _plain_value(v, f"{dotted}.{k}", source, depth + 1) for k, v in value.items()}
    raise RecipeError(f"{source}: {dotted} must be a number, true/false, a string, a list or a table, "
                      f"got {_short(value)}")


def set_value(recipe: Recipe, dotted: str, value, source: str = "override") -> None:
    """Sets ``section.key``, converting and type-checking ``value`` against the field's type."""
    section_name, _, key = dotted.partition(".")
    section = getattr(recipe, section_name, None) if section_name in {f.name for f in fields(Recipe)} else None
    if section is None or not key:
        raise RecipeError(f"{source}: unknown recipe key {dotted!r} (use section.key, e.g. train.lr)")
    if section_name in FREE_SECTIONS:
        return _set_free(section, dotted, value, source)
    types = {f.name: f.type for f in fields(section)}
    if key not in types:
        raise RecipeError(f"{source}: unknown key {key!r} in [{section_name}] (known: {', '.join(types)})")
    setattr(section, key, _coerce(value, types[key], dotted, source))


def _coerce(value, type_name: str, dotted: str, source: str):
    ok = {
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
    }[type_name]
    if not ok:
        raise RecipeError(f"{source}: {dotted} must be {_article(type_name)}, got {_short(value)}")
    if type_name == "float":
        return _finite(value, dotted, source)
    if type_name == "str":
        _check_text(value, dotted, source)
    return value


def _finite(value, dotted: str, source: str) -> float:
    """A float that is a number: inf and nan (TOML's, or 1e400) train nothing."""
    try:
        number = float(value)
    except OverflowError:  # a TOML integer too large for a float
        number = math.inf
    if not math.isfinite(number):
        raise RecipeError(f"{source}: {dotted} must be a finite number, got {_short(value)}")
    return number


def _check_text(value: str, dotted: str, source: str) -> None:
    """Strings become paths, names and column labels: UTF-8 text without control characters."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: bytes in argv that were not UTF-8
        raise RecipeError(f"{source}: {dotted} is not valid UTF-8 text, got {_short(value)}") from None
    if any(unicodedata.category(c) == "Cc" and c != "\t" for c in value):
        raise RecipeError(f"{source}: {dotted} must not contain control characters (NUL, newline, ...), "
                          f"got {_short(value)}")


def _short(value, limit: int = 80) -> str:
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
            raise RecipeError(f"{section}.{key} = {_short(value)} is not one of: {', '.join(allowed)}")
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
    for section in TYPED_SECTIONS:
        values = getattr(recipe, section)
        for f in fields(values):
            value, dotted = getattr(values, f.name), f"{section}.{f.name}"
            if f.type == "float":
                _finite(value, dotted, "recipe")
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
            raise RecipeError(f"{section}.{key} = {_short(value)} must be {words}")


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
    for section in TYPED_SECTIONS:
        values = getattr(recipe, section)
        for f in fields(values):
            if f.type == "str":
                _check_text(getattr(values, f.name), f"{section}.{f.name}", "recipe")
    encoding = recipe.data.encoding
    if not _is_text_encoding(encoding):
        raise RecipeError(f"data.encoding = {_short(encoding)} is not a text encoding Python knows "
                          "(e.g. utf-8, latin-1, cp1252)") from None
    name = recipe.run.name
    if "/" in name or "\\" in name or name in (".", "..") or len(name.encode()) > 200:
        raise RecipeError(f"run.name = {_short(name)} must be a plain folder name: no / or \\, "
                          "not . or .., at most 200 bytes")


def parse_override(text: str) -> tuple[str, object]:
    """``section.key=value`` with value parsed as a TOML value, else taken as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise RecipeError(f"--set {_short(text)}: expected SECTION.KEY=VALUE")
    if "\n" in value or "\r" in value:  # a second line would parse as more TOML keys, silently dropped
        raise RecipeError(f"--set {_short(text)}: the value must be one line")
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return key.strip(), parsed


def to_toml(recipe: Recipe) -> str:
    import tomli_w

    return tomli_w.dumps(recipe.to_dict())


def template() -> str:
    """A commented recipe with every key at its default; comments come from the dataclasses above."""
    import inspect

    import tomli_w

    lines = ["# ftui recipe: `ftui train recipe.toml`. Every key is optional; these are the defaults.", ""]
    for section in TYPED_SECTIONS:
        cls = type(getattr(Recipe(), section))
        comments = _field_comments(inspect.getsource(cls))
        lines.append(f"[{section}]")
        for f in fields(cls):
            value = tomli_w.dumps({f.name: getattr(cls(), f.name)}).strip()
            comment = comments.get(f.name)
            lines.append(f"{value:<34} # {comment}" if comment else value)
        lines.append("")
    return "\n".join(lines + TRAINING_ARGS_TEMPLATE)


TRAINING_ARGS_TEMPLATE = [
    "[training_args]                    # any other transformers TrainingArguments field, passed through; e.g.",
    "# dataloader_num_workers = 2",
    "# optim = \"adafactor\"",
    "# gradient_checkpointing = true",
    "# torch_compile = true",
    "",
    "[model_config]                     # keys of the model's config.json, set before it loads; e.g.",
    "# hidden_dropout_prob = 0.2",
    "# attention_probs_dropout_prob = 0.2",
    "",
]


def _field_comments(source: str) -> dict[str, str]:
    out = {}
    for line in source.splitlines():
        name, colon, rest = line.strip().partition(":")
        if colon and "#" in rest and name.isidentifier():
            out[name] = rest.split("#", 1)[1].strip()
    return out
