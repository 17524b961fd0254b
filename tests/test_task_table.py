"""One task table (ftui.rundir.tasks): every layer's list of tasks is the table's, a new entry reaches
every layer, and training and export score the same predictions the same way (ftui.rundir.metrics)."""

from __future__ import annotations

import argparse
import ast
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from conftest import REPO
from ftui.rundir import tasks as table
from ftui.rundir.tasks import DEMO_DATA, TASKS, ExportSide, PredictorSide, Task, TrainerSide, resolve


def train_task_choices() -> tuple[str, ...]:
    from ftui.tui.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return tuple(next(a for a in sub.choices["train"]._actions if a.dest == "task").choices)


def models_json(capsys) -> list[dict]:
    from ftui.tui.cli import main

    capsys.readouterr()
    assert main(["models", "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


# --- every layer derives its tasks from the table ---------------------------------------------

def test_every_layer_lists_the_tables_tasks(capsys):
    from ftui.trainer.recipe_checks import CHOICES

    assert train_task_choices() == tuple(TASKS)
    assert CHOICES[("task", "type")] == tuple(TASKS)
    assert [r["name"] for r in models_json(capsys) if r["kind"] == "task"] == list(TASKS)


def test_each_task_resolves_to_implementations_of_its_protocols():
    from ftui.export.tasks import table_entry
    from ftui.trainer.engine.strategies import peft_task_type

    for task in TASKS.values():
        assert peft_task_type(task.name) == task.peft_type
        assert isinstance(resolve(task.trainer), TrainerSide), task.trainer
        assert callable(resolve(task.reader)), task.reader
        exporter = resolve(task.exporter)()
        assert isinstance(exporter, ExportSide) and table_entry(type(exporter)) is task
        assert (exporter.name, exporter.auto_class, exporter.primary_metric) == (task.name, task.head, task.metrics[0])
        assert isinstance(resolve(task.predictor), PredictorSide)
        assert exporter.predictor_file.is_file()


def test_demo_data_and_defaults_name_table_entries():
    for name, demo in DEMO_DATA.items():
        assert demo.task in TASKS, name
    for task in TASKS.values():
        assert DEMO_DATA[task.default_data].task == task.name
        assert task.default_metric in task.metrics and "loss" in task.metrics


def test_no_layer_spells_the_task_list_itself():
    """Task names, head classes, architecture suffixes and peft types appear as strings only in the table."""
    spelled = {v for t in TASKS.values() for v in (t.name, t.head, t.suffix, t.peft_type) if v}
    found = []
    for folder in ("trainer", "export", "tui", "models"):
        for path in sorted((REPO / folder).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and node.value in spelled:
                    found.append(f"{folder}/{path.name}:{node.lineno} {node.value!r}")
    assert not found, found


# --- a new entry reaches every layer ----------------------------------------------------------

@pytest.fixture
def fake_task(monkeypatch):
    """A fifth task, declared only by a table entry and modules that exist only in sys.modules."""
    from ftui.export.tasks import ExportTask

    calls = []
    impl = types.ModuleType("fake_task_impl")
    impl.write_validation = impl.write_calibration = impl.check_model = impl.build = lambda *a: None
    impl.load_fake = lambda section, seed: ("fake data", seed)
    impl.run_cli = lambda bundle, inputs, file, as_json: calls.append((bundle, inputs)) or 0
    impl.FakeExport = type("FakeExport", (ExportTask,), {"__module__": "fake_task_impl", "model_types": ("fake",)})
    monkeypatch.setitem(sys.modules, "fake_task_impl", impl)
    task = Task("fake-classification", "fake", "one fake per thing", head="AutoModelForFakeClassification",
                suffix="ForFakeClassification", inputs="image", reader="fake_task_impl:load_fake",
                trainer="fake_task_impl", exporter="fake_task_impl:FakeExport", predictor="fake_task_impl",
                metrics=("fakeness", "loss"), default_data="demo:fakes", default_model="",
                optimum_task="image-classification", peft_type="FAKE_CLS")
    monkeypatch.setitem(TASKS, task.name, task)
    monkeypatch.setitem(DEMO_DATA, "demo:fakes", table.DemoData(task.name, "/nonexistent", "nothing", "fakes"))
    return task, calls


def test_a_new_entry_appears_in_the_cli_and_models_json(fake_task, capsys):
    task, _ = fake_task
    assert task.name in train_task_choices()
    rows = {r["name"]: r for r in models_json(capsys) if r["kind"] in ("task", "demo_data")}
    assert rows[task.name]["metrics"] == ["fakeness", "loss"] and rows[task.name]["default_metric"] == "fakeness"
    assert rows[task.name]["head"] == task.head and rows[task.name]["peft_task_type"] == "FAKE_CLS"
    assert rows["demo:fakes"]["task"] == task.name and rows["demo:fakes"]["offline"] is False


def test_a_new_entry_reaches_trainer_export_predict_and_screens(fake_task, tmp_path):
    from ftui.export.predict_cli import run as predict
    from ftui.export.tasks import task_for
    from ftui.trainer.engine.script_run import infer_task
    from ftui.trainer.engine.strategies import peft_task_type
    from ftui.trainer.tasks import load_task_data, task_module
    from ftui.tui.commands import task_word
    from ftui.tui.export_screen import predict_command

    task, calls = fake_task
    assert task_module(task.name) is sys.modules["fake_task_impl"]
    assert load_task_data(None, 7, task.name) == ("fake data", 7)
    assert peft_task_type(task.name) == "FAKE_CLS"
    assert infer_task(type("TinyForFakeClassification", (), {})()) == task.name
    exporter = task_for(tmp_path, {"architectures": ["TinyForFakeClassification"], "model_type": "fake"})
    assert (exporter.name, exporter.primary_metric, exporter.auto_class) == (task.name, "fakeness", task.head)
    assert task_word(task.name) == "fake"
    assert predict_command(tmp_path, task.name, "x.png").endswith("x.png")  # an image task: tried on an image
    (tmp_path / "bundle.json").write_text(json.dumps({"task": task.name, "default_model": "model.onnx"}))
    (tmp_path / "labels.json").write_text('["a", "b"]')
    assert predict(argparse.Namespace(bundle=tmp_path, texts=["one"], file=None, json=False)) == 0
    assert calls == [(tmp_path, ["one"])]


def test_an_unknown_architecture_or_bundle_task_names_every_table_task(tmp_path):
    from ftui.export.errors import ExportError
    from ftui.export.predict_cli import run as predict
    from ftui.export.predictor import PredictorError
    from ftui.export.tasks import task_for

    with pytest.raises(ExportError) as e:
        task_for(tmp_path, {"architectures": ["BertForMaskedLM"], "model_type": "bert"})
    assert all(t.suffix in str(e.value) for t in TASKS.values())
    (tmp_path / "bundle.json").write_text(json.dumps({"task": "summarization", "default_model": "model.onnx"}))
    (tmp_path / "labels.json").write_text("[]")
    with pytest.raises(PredictorError) as e:
        predict(argparse.Namespace(bundle=tmp_path, texts=["x"], file=None, json=False))
    assert all(name in str(e.value) for name in TASKS)


# --- training and export score the same predictions the same way -----------------------------

def test_macro_f1_with_a_class_absent_from_validation_is_the_same_in_training_and_export(make_recipe):
    """The issue's case: 3 labels, none of the third in validation. Training said 0.444 (a 0 for the absent
    class), export 0.667; both now say what sklearn's and HF evaluate's default macro-F1 says."""
    from sklearn.metrics import f1_score
    from transformers import EvalPrediction

    from ftui.export.task_text import TextClassification
    from ftui.export.tasks import Examples
    from ftui.models.presets import resolve_model
    from ftui.trainer.recipe import load_recipe
    from ftui.trainer.tasks.text import build
    from ftui.trainer.tasks import load_task_data

    recipe = load_recipe(make_recipe())
    data = load_task_data(recipe.data, recipe.run.seed, recipe.task.type)
    assert len(data.label_names) == 3
    parts = build(resolve_model(recipe.model.name), recipe, data)
    truth, pred = np.array([0, 0, 1]), np.array([0, 1, 1])  # no example of class 2; never predicted either
    logits = np.eye(3)[pred] * 3.0
    trained = parts.compute_metrics(EvalPrediction(predictions=logits, label_ids=truth))
    exported = TextClassification().task_metrics(logits, Examples(["a", "b", "c"], truth, Path("v.jsonl")))
    assert trained == exported
    assert trained["f1_macro"] == pytest.approx(2 / 3) == f1_score(truth, pred, average="macro")
    assert trained["accuracy"] == pytest.approx(2 / 3)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), max_size=40))
def test_training_and_export_classification_metrics_agree(pairs):
    from ftui.export.metrics import compare
    from ftui.trainer.data.features import classification_metrics

    truth = np.array([t for t, _ in pairs], dtype=np.int64)
    logits = np.eye(5)[[p for _, p in pairs]].reshape(len(pairs), 5)
    trained = classification_metrics(logits, truth)
    exported = compare(logits, logits, truth)
    assert {k: exported[k] for k in trained} == trained
    present = sorted(set(truth) | {p for _, p in pairs})
    f1s = [2 * np.sum((truth == c) & (logits.argmax(-1) == c))
           / (np.sum(truth == c) + np.sum(logits.argmax(-1) == c)) for c in present]
    assert trained["f1_macro"] == pytest.approx(float(np.mean(f1s)) if f1s else 0.0)


def test_ner_entity_scores_are_the_same_in_training_and_export():
    from ftui.export.task_ner import TokenClassification
    from ftui.export.tasks import Examples
    from ftui.rundir.metrics import entity_scores
    from ftui.trainer.tasks.ner import ner_metrics

    names = ["B-LOC", "I-LOC", "B-PER", "O"]
    word_truth = [[2, 3, 0, 1], [0, 2]]
    word_pred = [[2, 3, 0, 3], [3, 2]]
    labels = np.full((2, 6), -100)
    logits = np.full((2, 6, 4), -5.0)
    for i, (truth, pred) in enumerate(zip(word_truth, word_pred)):  # first sub-tokens at 1, 2, ...
        labels[i, 1:1 + len(truth)] = truth
        logits[i, 1 + np.arange(len(pred)), pred] = 5.0
    trained = ner_metrics(logits, labels, names)
    examples = Examples([["w"] * len(t) for t in word_truth], word_truth, Path("v.jsonl"),
                        extra={"labels": names, "scored_truth": word_truth})
    flat = np.eye(4)[[p for row in word_pred for p in row]]
    exported = TokenClassification().task_metrics(flat, examples)
    assert trained == exported == entity_scores([[names[i] for i in t] for t in word_truth],
                                                [[names[i] for i in p] for p in word_pred])
    # entities PER, LOC(2 words) | LOC, PER; predicted PER, LOC(1 word) | PER: 2 of 3 right, 2 of 4 found
    assert trained["precision"] == pytest.approx(2 / 3) and trained["recall"] == pytest.approx(2 / 4)
