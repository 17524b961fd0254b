"""``[training_args]``: the TrainingArguments fields ftui does not set itself, checked before a run
directory exists (names against the dataclass, values against its types, then TrainingArguments'
own checks), and the resolved values that differ from HF's defaults, for env.json.

The names ftui's recipe owns are refused with the key to use: one source per setting.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import json
import os
import tempfile
import typing

from ftui.rundir.errors import first_line

from ..errors import RecipeError

# TrainingArguments field -> where ftui's recipe sets it (or why ftui decides it).
OWNED = {
    "output_dir": "run.output_dir and run.name (checkpoints live in the run directory)",
    "overwrite_output_dir": "run.name (each run has its own directory)",
    "run_name": "run.name",
    "logging_dir": "nothing: ftui puts tracker logs in <run>/logs",
    "num_train_epochs": "train.epochs",
    "max_steps": "train.max_steps",
    "learning_rate": "train.lr",
    "per_device_train_batch_size": "train.batch_size",
    "per_device_eval_batch_size": "train.eval_batch_size",
    "gradient_accumulation_steps": "train.grad_accum",
    "warmup_ratio": "train.warmup_ratio",
    "lr_scheduler_type": "train.scheduler",
    "weight_decay": "train.weight_decay",
    "label_smoothing_factor": "train.label_smoothing",
    "max_grad_norm": "train.max_grad_norm",
    "bf16": "train.precision", "fp16": "train.precision",
    "group_by_length": "train.group_by_length",
    "logging_strategy": "train.logging_steps", "logging_steps": "train.logging_steps",
    "logging_first_step": "train.logging_steps (ftui always logs the first step)",
    "logging_nan_inf_filter": "nothing: ftui shows a NaN loss and stops, never hides it",
    "eval_strategy": "train.eval_every", "eval_steps": "train.eval_every",
    "save_strategy": "checkpoint.every", "save_steps": "checkpoint.every",
    "save_total_limit": "checkpoint.keep",
    "save_only_model": "nothing: checkpoints keep the optimizer state for --resume",
    "save_safetensors": "nothing: export reads model.safetensors",
    "load_best_model_at_end": "early_stopping.metric (ftui keeps the best checkpoint itself)",
    "metric_for_best_model": "early_stopping.metric", "greater_is_better": "early_stopping.metric",
    "seed": "run.seed", "data_seed": "run.seed",
    "report_to": "train.report_to",
    "disable_tqdm": "nothing: ftui prints its own progress",
    "resume_from_checkpoint": "ftui train --resume RUN",
    "local_rank": "ftui train --nproc (torchrun sets it)",
}


def fields_by_name() -> dict[str, dataclasses.Field]:
    from transformers import TrainingArguments

    return {f.name: f for f in dataclasses.fields(TrainingArguments) if f.init and not f.name.startswith("_")}


def check_not_owned(settings: dict) -> None:
    """No [training_args] key that ftui sets itself (no transformers import: load_recipe calls this)."""
    for key in settings:
        if key in OWNED:
            raise RecipeError(f"training_args.{key} is set by ftui: use {OWNED[key]} instead")


def check_names_and_types(settings: dict) -> None:
    """Each key a TrainingArguments field ftui does not own, each value of the field's type."""
    check_not_owned(settings)
    known = fields_by_name()
    for key, value in settings.items():
        if key not in known:
            close = difflib.get_close_matches(key, [k for k in known if k not in OWNED], n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise RecipeError(f"training_args.{key} is not a TrainingArguments field{hint}")
        expected = _accepted(known[key].type)
        if expected and not any(_is(value, t) for t in expected):
            raise RecipeError(f"training_args.{key} must be {_words(expected)}, got {value!r}")
        _check_choice(key, value, known[key].type)


def _accepted(annotation) -> list:
    """The TOML-expressible types a field takes; [] when its type is one this check does not know."""
    if annotation in (bool, int, float, str, list, dict):
        return [annotation]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [str]
    origin = typing.get_origin(annotation)
    if origin in (list, dict):
        return [origin]
    if origin is typing.Union:
        parts = [_accepted(a) for a in typing.get_args(annotation) if a is not type(None)]
        return [] if any(not p for p in parts) else [t for p in parts for t in p]
    return []


def _is(value, kind) -> bool:
    if kind is bool or isinstance(value, bool):
        return kind is bool and isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)


def _words(kinds: list) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a list",
             dict: "a table"}
    return " or ".join(dict.fromkeys(names[k] for k in kinds))


def _check_choice(key: str, value, annotation) -> None:
    """A string for an enum field (optim, ...) must be one of its values: say which, closest first."""
    enums = [a for a in (annotation, *typing.get_args(annotation))
             if isinstance(a, type) and issubclass(a, enum.Enum)]
    if not enums or not isinstance(value, str):
        return
    choices = [str(m.value) for e in enums for m in e]
    if value not in choices:
        close = difflib.get_close_matches(value, choices, n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise RecipeError(f"training_args.{key} = {value!r} is not a choice ({hint}choices: {', '.join(choices)})")


def check_training_args(recipe) -> None:
    """The run's TrainingArguments, built once with a throwaway output_dir on the CPU (the process
    preparing a run must not take a GPU): TrainingArguments' own checks become one-line errors."""
    from .builder import training_kwargs
    from transformers import TrainingArguments

    check_names_and_types(recipe.training_args)
    saved_env = dict(os.environ)  # __post_init__ sets ACCELERATE_* variables the trainer process would inherit
    with tempfile.TemporaryDirectory(prefix="ftui-args-") as tmp:
        kwargs = training_kwargs(tmp, recipe, "fp32")
        kwargs.update(use_cpu=True, report_to="none")  # trackers are checked by trackers.py, not started
        try:
            TrainingArguments(**kwargs)
        except (ValueError, TypeError, ImportError, NotImplementedError, KeyError) as e:
            raise RecipeError(f"[training_args]: TrainingArguments refused the settings: {first_line(e)}") from None
        finally:
            os.environ.clear()
            os.environ.update(saved_env)


def non_default_values(args) -> dict:
    """The resolved TrainingArguments values that differ from HF's defaults, as JSON (secrets left out)."""
    resolved = args.to_dict()
    defaults = _resolved_defaults()
    out = {}
    for name, value in resolved.items():
        if name.endswith("_token"):  # to_dict redacts these: say only whether one is set
            value = "<set>" if getattr(args, name, None) else None
        if name == "fsdp_config" and not resolved.get("fsdp"):
            continue  # filled in by __post_init__, used only with FSDP
        if _normal(value) != _normal(defaults.get(name)):
            out[name] = value
    return json.loads(json.dumps(out, default=str))


def _resolved_defaults() -> dict:
    """Each field's default as __post_init__ leaves it (without building a TrainingArguments, which
    would reset the live accelerate state)."""
    from transformers.trainer_pt_utils import AcceleratorConfig

    out = {}
    for f in fields_by_name().values():
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        out[f.name] = getattr(default, "value", default)
    accelerator = AcceleratorConfig().to_dict()
    accelerator.pop("use_configured_state", None)  # _setup_devices pops it
    out.update(accelerator_config=accelerator, include_num_input_tokens_seen="no")
    return out


def _normal(value):
    """None, "", [] and {} all mean "not set" (__post_init__ turns one into another)."""
    return None if value in (None, "", [], {}) else value
