"""`ftui predict` and the bundle's own predict.py label texts with onnxruntime alone; optimum loads the bundle too."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from export_fixtures import exported_run, tiny_checkpoint, validation_rows  # noqa: F401
from test_export_pipeline import pytorch_predictions
from torch_free import assert_cannot_import, clean_env, torch_free_python

from ftui.export.predictor import Predictor
from ftui.tui.cli import main



@pytest.fixture(scope="module")
def bundle(exported_run):
    return exported_run[1].bundle_path


@pytest.fixture(scope="module")
def texts(validation_rows):
    return [r["text"] for r in validation_rows[:40]]


def test_fp32_predictor_labels_match_pytorch(bundle, texts, tiny_checkpoint):
    results = Predictor(bundle, model="fp32").predict(texts)
    expected = pytorch_predictions(tiny_checkpoint, texts)
    labels = json.loads((bundle / "labels.json").read_text())
    assert [r["label"] for r in results] == [labels[i] for i in expected]
    for r in results:
        assert abs(sum(r["scores"].values()) - 1) < 1e-5 and r["score"] == max(r["scores"].values())


def test_ftui_predict_prints_a_line_per_text(bundle, texts, tmp_path, capsys):
    assert main(["predict", str(bundle), texts[0], texts[1]]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = Predictor(bundle).predict(texts[:2])
    assert [line.split("\t") for line in lines] == [[r["label"], f"{r['score']:.3f}", r["text"]] for r in expected]
    file = tmp_path / "texts.txt"
    file.write_text("\n".join(texts[:5]) + "\n\n")
    assert main(["predict", str(bundle), "--file", str(file), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in rows] == texts[:5] and set(rows[0]["scores"]) == {"negative", "neutral", "positive"}


def test_optimum_loads_the_bundle(bundle, texts):
    from optimum.onnxruntime import ORTModelForSequenceClassification
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(bundle)
    enc = tok(texts, truncation=True, max_length=64, padding=True, return_tensors="np")
    for variant, file in (("fp32", "model.onnx"), ("int8", "model_quantized.onnx")):
        # optimum matches file_name against the names of every .onnx file under the bundle (onnx/ here)
        model = ORTModelForSequenceClassification.from_pretrained(bundle, file_name=file)
        logits = model(**enc).logits
        # One batch on both sides: dynamic int8 picks its activation scale per batch.
        ours = Predictor(bundle, model=variant).logits(texts, batch_size=len(texts))
        assert np.allclose(np.asarray(logits), ours, atol=1e-5), file
        assert model.config.id2label[0] == "negative"


def test_prediction_without_torch_or_transformers(bundle, texts, tmp_path):
    python, env = torch_free_python(tmp_path), clean_env()
    assert_cannot_import(python, ("torch", "transformers", "optimum"), env)
    expected = [f"{r['label']}\t{r['score']:.3f}\t{r['text']}" for r in Predictor(bundle).predict(texts[:3])]
    standalone = subprocess.run([str(python), "predict.py", *texts[:3]], cwd=bundle, capture_output=True,
                                text=True, env=env, timeout=120)
    assert standalone.returncode == 0, standalone.stderr
    assert standalone.stdout.splitlines() == expected
    via_ftui = subprocess.run([str(python), "-m", "ftui.tui.cli", "predict", str(bundle), *texts[:3]],
                              capture_output=True, text=True, env=env, timeout=120)
    assert via_ftui.returncode == 0, via_ftui.stderr
    assert via_ftui.stdout.splitlines() == expected
    empty = subprocess.run([str(python), "predict.py", ""], cwd=bundle, capture_output=True, text=True, env=env)
    assert empty.returncode == 2 and "empty input text" in empty.stderr and "Traceback" not in empty.stderr
