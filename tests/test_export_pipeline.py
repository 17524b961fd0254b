"""Given a run with a tiny fine-tuned classifier, `ftui export --onnx` writes a validated, benchmarked bundle."""

from __future__ import annotations

import json

import numpy as np
import pytest
from export_fixtures import LABELS, exported_run, tiny_checkpoint, tiny_run, validation_rows  # noqa: F401

from ftui.tui.cli import main


def pytorch_predictions(checkpoint, texts, max_length=64):
    """Labels straight from transformers (its own tokenizer and model), independent of ftui's export code."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint).eval()
    with torch.no_grad():
        logits = model(**tok(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")).logits
    return logits.argmax(-1).numpy()


def test_fp32_export_end_to_end(tiny_run, tiny_checkpoint, validation_rows, capsys):
    code = main(["export", str(tiny_run), "--onnx", "--no-benchmark", "--threads", "1"])
    out = capsys.readouterr().out
    assert code == 0, out
    bundle = tiny_run / "export" / "bundle"
    for name in ("onnx/model.onnx", "tokenizer.json", "tokenizer_config.json", "labels.json", "config.json",
                 "recipe.toml", "report.json", "report.txt", "README.md", "predict.py", "bundle.json"):
        assert (bundle / name).is_file(), name
    report = json.loads((bundle / "report.json").read_text())
    assert report["passed"] and report["failed_gates"] == []
    assert report["rows"] == len(validation_rows) and report["max_length"] == 64
    assert report["checkpoint"].endswith("checkpoint-10") and report["opset"] >= 14
    assert json.loads((bundle / "labels.json").read_text()) == LABELS
    fp32 = report["variants"][0]
    assert fp32["name"] == "fp32" and fp32["metrics"]["max_abs_diff"] <= 1e-4
    assert fp32["metrics"]["label_agreement"] == 1.0
    assert fp32["shapes"]["output_shape"] == [3, 3] and fp32["shapes"]["static_axes"] == []
    assert report["preprocessing"]["mismatches"] == 0
    # The reported PyTorch accuracy is what transformers itself gets on the same split.
    truth = np.array([LABELS.index(r["label"]) for r in validation_rows])
    pred = pytorch_predictions(tiny_checkpoint, [r["text"] for r in validation_rows])
    assert report["pytorch"]["accuracy"] == pytest.approx((pred == truth).mean())
    assert fp32["metrics"]["accuracy"] == pytest.approx((pred == truth).mean())
    assert "ftui export: PASS" in out and "fp32 atol" in out and "latency" not in out
    assert not report["benchmark"]["rows"]


def test_variants_are_validated_and_benchmarked(exported_run):
    run, report, stages = exported_run
    assert [v.name for v in report.variants] == ["fp32", "O2", "int8"]
    bundle = report.bundle_path
    files = {v.name: v.file for v in report.variants}
    assert files == {"fp32": "onnx/model.onnx", "O2": "onnx/model_O2.onnx", "int8": "onnx/model_quantized.onnx"}
    assert sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*.onnx*")) == sorted(files.values())
    int8 = report.variants[2]
    assert int8.size_bytes < 0.6 * report.variants[0].size_bytes  # weights really are 8-bit
    assert int8.metrics["max_abs_diff"] > 0  # a different model, not a copy of fp32
    assert report.int8_tried[0]["scheme"] == "per-channel" and "per-channel" in int8.note
    for v in report.variants:
        assert 0 <= v.metrics["accuracy"] <= 1 and v.shapes["ok"]
    gates = {g.name: g.passed for g in report.gates}
    assert {"tokenization", "fp32 atol", "fp32 accuracy drop", "O2 accuracy drop", "int8 accuracy drop",
            "int8 dynamic axes"} <= set(gates)
    assert report.passed == all(gates.values())
    drop = int8.metrics["accuracy_drop_pts"]
    assert gates["int8 accuracy drop"] == (drop <= 1.0)
    runtimes = {(r["runtime"], r["batch"]) for r in report.benchmark}
    assert runtimes == {(n, b) for n in ("pytorch", "fp32", "O2", "int8") for b in (1, 32)}
    assert all(r["median_ms"] > 0 and r["iterations"] >= 3 for r in report.benchmark)
    assert report.benchmark_setup["threads"] == 1 and report.benchmark_setup["sequence"] == 64
    assert stages[0] == "load" and stages[-1] == "done" and {"export", "validate", "optimize", "quantize", "benchmark"} <= set(stages)


def test_the_fused_variants_run_layer_norm_not_skip_layer_norm(exported_run):
    """O2 and the int8 made from it keep onnxruntime's attention fusion but not its slow SkipLayerNormalization
    (export/layernorm.py): each residual Add + LayerNormalization is there instead."""
    import onnx

    _, report, _ = exported_run
    for variant, fused_op in (("O2", "Attention"), ("int8", "QAttention")):
        file = next(v.file for v in report.variants if v.name == variant)
        ops = [n.op_type for n in onnx.load(str(report.bundle_path / file)).graph.node]
        layers = ops.count(fused_op)
        assert layers >= 1 and "SkipLayerNormalization" not in ops, (variant, sorted(set(ops)))
        # after each layer's attention and MLP, and the embeddings' own
        assert ops.count("LayerNormalization") == 2 * layers + 1, variant


def test_report_text_and_json_agree(exported_run):
    _, report, _ = exported_run
    text = (report.bundle_path / "report.txt").read_text()
    data = json.loads((report.bundle_path / "report.json").read_text())
    assert text.strip() == report.to_text().strip()
    for name in ("pytorch", "fp32", "O2", "int8", "latency ms", "speedup @1", "gates"):
        assert name in text
    assert data["passed"] == report.passed and data["default_model"] == report.default_model
    assert [v["name"] for v in data["variants"]] == ["fp32", "O2", "int8"]
    manifest = json.loads((report.bundle_path / "bundle.json").read_text())
    assert manifest["models"] == {v.name: v.file for v in report.variants}
    assert manifest["default_model"] == report.default_model and manifest["max_length"] == 64
    readme = (report.bundle_path / "README.md").read_text()
    assert "python predict.py" in readme and "ORTModelForSequenceClassification" in readme


def test_export_from_a_checkpoint_folder_with_csv_data(tiny_run, tmp_path, validation_rows):
    """An HF checkpoint folder plus --data FILE (CSV, numeric labels) works without the run around it."""
    import csv
    import shutil

    ck = shutil.copytree(tiny_run / "checkpoints" / "checkpoint-10", tmp_path / "ck")
    data = tmp_path / "val.csv"
    with open(data, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows([r["text"], LABELS.index(r["label"])] for r in validation_rows[:40])
    out = tmp_path / "out"
    assert main(["export", str(ck), "--onnx", "--no-benchmark", "--data", str(data), "--output", str(out)]) == 0
    report = json.loads((out / "bundle" / "report.json").read_text())
    assert report["rows"] == 40 and report["passed"] and report["max_length"] == 128  # the model's own limit
    assert not (out / "bundle" / "recipe.toml").exists()


def test_the_command_line_export_exits_at_once_with_everything_written_and_flushed(tiny_run, tmp_path):
    """`python -m ftui export` ends with os._exit (no interpreter teardown): its piped output must still be
    whole, its exit code kept, and the bundle in place."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    ok = subprocess.run([sys.executable, "-m", "ftui", "export", str(tiny_run), "--onnx", "--no-benchmark",
                         "--threads", "1", "--output", str(tmp_path / "out")], capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.rstrip().splitlines()[-1].startswith("bundle: ") and "PASS" in ok.stdout
    assert json.loads((tmp_path / "out" / "bundle" / "report.json").read_text())["passed"]
    bad = subprocess.run([sys.executable, "-m", "ftui", "export", str(tiny_run), "--onnx", "--data",
                          str(tmp_path / "nowhere.jsonl")], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and bad.stderr.startswith("ftui: ")
