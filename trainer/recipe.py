"""The recipe: one TOML file that says everything a run needs, validated before any work starts.

Sections and keys are the dataclasses below; ``ftui init`` writes them as a commented template.
Unknown keys, wrong types and bad values are one-line ``RecipeError``s (the checks live in
``recipe_checks.py``). No torch here.
Two sections are free-form: ``[training_args]``, TrainingArguments fields ftui does not set itself
(checked against transformers in ``trainer/engine/hf_args.py``), and ``[model_config]``, keys of the
model's config.json (checked against it in ``models/config_overrides.py``), both before a run
directory exists.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from .errors import RecipeError
from .recipe_checks import FREE_SECTIONS, coerce, plain_value, short, validate
from .tasks import DEFAULT_TASK, TASKS


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
        raise RecipeError(f"{source}: {short(dotted)} is not a setting name (letters, digits and _)")
    table[key] = plain_value(value, dotted, source)


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
    setattr(section, key, coerce(value, types[key], dotted, source))


def parse_override(text: str) -> tuple[str, object]:
    """``section.key=value`` with value parsed as a TOML value, else taken as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise RecipeError(f"--set {short(text)}: expected SECTION.KEY=VALUE")
    if "\n" in value or "\r" in value:  # a second line would parse as more TOML keys, silently dropped
        raise RecipeError(f"--set {short(text)}: the value must be one line")
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
