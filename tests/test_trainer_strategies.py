"""Fine-tuning strategies: full, frozen backbone (head only), layer-wise learning-rate decay, each
through export (LoRA: test_trainer_lora.py)."""

from __future__ import annotations

import pytest

from conftest import events_of, ftui


def test_frozen_backbone_trains_only_the_head(make_recipe, tmp_path):
    from safetensors.numpy import load_file

    result = ftui("train", make_recipe(train={"strategy": "frozen"}), "--headless")
    assert result.returncode == 0, result.stderr[-2000:]
    run = tmp_path / "runs" / "tiny"
    start = events_of(run, "run_start")[0]
    assert start["params_trainable"] < start["params_total"] / 100
    before = load_file(str(_tiny_weights(make_recipe)))
    after = load_file(str(run / "checkpoints" / "checkpoint-30" / "model.safetensors"))
    name = "bert.encoder.layer.0.attention.self.query.weight"
    assert (after[name] == before[name.removeprefix("bert.")]).all(), "a frozen layer must not change"
    _exports_and_predicts(run)


def _exports_and_predicts(run):
    """Every strategy ends in a plain checkpoint that `ftui export` validates and `ftui predict` uses."""
    import json

    ftui("export", run, "--onnx", "--no-benchmark", check=True)
    report = json.loads((run / "export" / "bundle" / "report.json").read_text())
    assert report["passed"] and report["variants"][0]["metrics"]["label_agreement"] == 1.0
    answer = ftui("predict", run / "export" / "bundle", "what a lovely morning", check=True).stdout
    assert answer.split("\t")[0] in ("negative", "neutral", "positive")


def _tiny_weights(make_recipe):
    import tomllib

    recipe = tomllib.loads(make_recipe().read_text())
    from pathlib import Path

    return Path(recipe["model"]["name"]) / "model.safetensors"


def test_llrd_gives_lower_layers_smaller_learning_rates(tiny_model_dir):
    from transformers import AutoModelForSequenceClassification

    from ftui.trainer.engine.ftui_trainer import llrd_param_groups

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=3)
    groups = llrd_param_groups(model, lr=1e-3, weight_decay=0.01, decay=0.5)
    lr_of = {}
    for group in groups:
        for p in group["params"]:
            lr_of[id(p)] = (group["lr"], group["weight_decay"])
    params = dict(model.named_parameters())
    head = lr_of[id(params["classifier.weight"])][0]
    top = lr_of[id(params["bert.encoder.layer.1.attention.self.query.weight"])][0]
    bottom = lr_of[id(params["bert.encoder.layer.0.attention.self.query.weight"])][0]
    embed = lr_of[id(params["bert.embeddings.word_embeddings.weight"])][0]
    assert head == pytest.approx(1e-3) and top == pytest.approx(5e-4)
    assert bottom == pytest.approx(2.5e-4) and embed == pytest.approx(1.25e-4)
    assert lr_of[id(params["bert.encoder.layer.0.output.LayerNorm.weight"])][1] == 0.0
    assert sum(len(g["params"]) for g in groups) == len(params)


def test_llrd_decays_a_conv_net_by_stage():
    """ResNet numbers its blocks per stage (stages.1.layers.0): the blocks of a stage share its level."""
    from transformers import ResNetConfig, ResNetForImageClassification

    from ftui.trainer.engine.ftui_trainer import llrd_param_groups

    model = ResNetForImageClassification(ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[2, 2],
                                                      layer_type="basic", num_labels=3))
    groups = llrd_param_groups(model, lr=1.0, weight_decay=0.0, decay=0.5)
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    first_conv = lambda prefix: next(p for n, p in model.named_parameters() if n.startswith(prefix))  # noqa: E731
    lrs = [lr_of[id(first_conv(f"resnet.encoder.stages.{s}.layers.{b}."))] for s in (0, 1) for b in (0, 1)]
    assert lrs == [0.5 ** 2, 0.5 ** 2, 0.5, 0.5]  # two stages of two blocks, bottom to top
    assert lr_of[id(first_conv("resnet.embedder."))] == 0.5 ** 3
    assert lr_of[id(model.classifier[1].weight)] == 1.0


def test_llrd_run_trains(make_recipe, tmp_path):
    result = ftui("train", make_recipe(train={"strategy": "llrd", "llrd_decay": 0.8}), "--headless")
    assert result.returncode == 0, result.stderr[-2000:]
    assert events_of(tmp_path / "runs" / "tiny", "status")[-1]["status"] == "finished"
    assert events_of(tmp_path / "runs" / "tiny", "run_start")[0]["strategy"] == "llrd"
    _exports_and_predicts(tmp_path / "runs" / "tiny")


def test_early_stopping_stops_on_a_plateau(make_recipe, tmp_path):
    # lr 0 cannot improve accuracy: with patience 1 the run stops after its second evaluation.
    recipe = make_recipe(train={"lr": 1e-12, "epochs": 5.0}, early_stopping={"patience": 1, "metric": "accuracy"})
    result = ftui("train", recipe, "--headless")
    assert result.returncode == 0, result.stderr[-2000:]
    run = tmp_path / "runs" / "tiny"
    evals = events_of(run, "eval")
    assert len(evals) == 2, [e["step"] for e in evals]
    assert any("early stopping" in e["message"] for e in events_of(run, "log"))
    summary = events_of(run, "summary")[-1]
    assert summary["status"] == "finished" and summary["early_stopped"] is True


def test_step_budget_and_epochs_follow_hf_trainer_arithmetic():
    from types import SimpleNamespace

    from ftui.trainer.engine.builder import planned_epochs, total_steps

    t = SimpleNamespace(epochs=1.0, max_steps=-1, batch_size=32, grad_accum=1)
    assert total_steps(4000, 32, 1, 1.0, -1) == 125 and planned_epochs(4000, t) == 1.0
    t.max_steps = 400  # max_steps wins: the header must say 3.2 epochs, not 1
    assert total_steps(4000, 32, 1, 1.0, 400) == 400 and planned_epochs(4000, t) == 3.2
    assert planned_epochs(4000, t, world_size=2) == 6.35  # 63 batches a rank each epoch
