"""The model, checked before a run directory exists: its files, its config (and the recipe's
model.dropout and [model_config] against it), its tokenizer or image processor, and
``data.max_length`` against its position embeddings; then the trainer's settings
(trackers, [training_args]). Bad ones are one-line errors."""

from __future__ import annotations

from ftui.rundir.tasks import TASKS

from ..errors import RecipeError
from ..recipe import Recipe


def check_model_files(recipe: Recipe, model_ref) -> dict | None:
    """Cheap (no transformers): config.json parses, the weights header is intact, max_length fits.
    Returns the config, or None for a hub model not downloaded yet."""
    from ftui.models.checks import check_model_files as check_files
    from ftui.models.config_overrides import config_overrides

    config = check_files(model_ref)
    if config is not None:  # model.dropout and [model_config] name keys this config has
        config_overrides(config, recipe.model.dropout, recipe.model_config, model_ref.name)
    task = TASKS.get(recipe.task.type)
    if config is not None and task is not None and task.inputs == "text":  # tokenized: max_length applies
        check_max_length(config, model_ref.name, recipe.data.max_length)
    return config


def check_max_length(config: dict, name: str, max_length: int) -> None:
    from ftui.models.checks import position_limit

    limit = position_limit(config)
    if limit is not None and max_length > limit[0]:
        raise RecipeError(f"data.max_length = {max_length} is more than model {name!r} takes: {limit[0]} tokens "
                          f"({limit[1]} in its config.json); set data.max_length to {limit[0]} or less")


def check_model_loads(recipe: Recipe, model_ref) -> None:
    """transformers loads the config and the task's tokenizer or image processor (imports torch)."""
    from ftui.models.loading import load_config

    from ..tasks import task_module

    load_config(model_ref, recipe.model.trust_remote_code)
    task_module(recipe.task.type).check_model(model_ref, recipe)


def check_training_setup(recipe: Recipe) -> None:
    """The trackers train.report_to names are installed; a non-empty [training_args] is built into
    the run's TrainingArguments once (imports transformers), so its errors come before the run dir."""
    from .trackers import check_installed

    check_installed(recipe.train.report_to)
    if recipe.training_args:
        from .hf_args import check_training_args

        check_training_args(recipe)
