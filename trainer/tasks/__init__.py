"""The trainer's side of the task table (ftui.rundir.tasks): what each task plugs into the shared engine.

A task's trainer module (``Task.trainer``: tasks/text.py, tasks/ner.py, tasks/image.py) is a ``TrainerSide``:

    write_validation(data, run) -> None       the validation split into run/data/, for `ftui export`
    write_calibration(data, run, seed) -> None   a seeded sample of training rows into run/data/, for static int8
    check_model(model_ref, recipe) -> None    before a run dir exists: the tokenizer or image processor loads
    build(model_ref, recipe, data) -> TaskParts   model, datasets, collator, metrics (imports torch)

and its data reader is the table's ``Task.reader`` (read, check, split and sample; no torch).
Everything else (the Trainer, callback, checkpoints, commands, events, scale-out) is shared.
This file imports nothing heavy: the recipe validates against TASKS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ftui.rundir.tasks import DEFAULT_TASK, DEMO_DATA, TASKS, DemoData, Task, TrainerSide, demo_available, resolve

__all__ = ["DEFAULT_TASK", "DEMO_DATA", "TASKS", "DemoData", "Task", "TaskParts", "demo_available",
           "load_task_data", "task_module"]


@dataclass
class TaskParts:
    """What a task hands the shared Trainer set-up."""

    model: Any
    train_set: Any
    val_set: Any
    collator: Callable
    processing_class: Any               # tokenizer or image processor: saved into every checkpoint
    compute_metrics: Callable
    tokens_per_sample: float | None     # mean real tokens per training example; None for images
    group_by_length: bool               # whether length-grouped batches make sense for this data
    info: dict = field(default_factory=dict)  # extra run_start fields (mean_tokens, image_size, ...)


def load_model(model_ref, recipe, label_names: list[str]):
    """The pretrained model with the task's head, the recipe's dropout and [model_config] applied."""
    from ftui.models.loading import load_for_classification

    return load_for_classification(model_ref, label_names, recipe.model.trust_remote_code,
                                   head=TASKS[recipe.task.type].head, dropout=recipe.model.dropout,
                                   config_keys=recipe.model_config)


def task_module(name: str) -> TrainerSide:
    """The task's trainer module, imported on first use."""
    return resolve(TASKS[name].trainer)


def load_task_data(section, seed: int, task: str = DEFAULT_TASK):
    """The recipe's data for ``task``: TaskData with train, validation and label names (no torch)."""
    return resolve(TASKS[task].reader)(section, seed)
