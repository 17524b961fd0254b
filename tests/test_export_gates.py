"""Given a deliberately damaged ONNX model, the export fails the right gate, says so and keeps its report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from export_fixtures import tiny_checkpoint, tiny_run, validation_rows  # noqa: F401
from onnx import numpy_helper

from ftui.export import gates
from ftui.tui.cli import main


def shift_classifier_bias(path, label: int, amount: float) -> None:
    """Adds `amount` to one label's logit bias inside an ONNX file, in place."""
    model = onnx.load(str(path))
    init = next(i for i in model.graph.initializer if i.name == "classifier.bias")
    bias = numpy_helper.to_array(init).copy()
    bias[label] += amount
    init.CopyFrom(numpy_helper.from_array(bias, init.name))
    onnx.save(model, str(path))


def test_perturbed_fp32_weights_fail_the_atol_gate(tiny_run, monkeypatch, capsys):
    from ftui.export import convert

    real = convert.export_onnx

    def export_then_perturb(model, checkpoint, out_dir, task):
        path = real(model, checkpoint, out_dir, task)
        shift_classifier_bias(path, label=1, amount=0.01)  # small: labels barely move, logits do
        return path

    monkeypatch.setattr(convert, "export_onnx", export_then_perturb)
    code = main(["export", str(tiny_run), "--onnx", "--no-benchmark"])
    captured = capsys.readouterr()
    assert code == 1
    assert "fp32 atol" in captured.err.splitlines()[-1] and "Traceback" not in captured.err
    report = json.loads((tiny_run / "export" / "bundle" / "report.json").read_text())
    assert report["passed"] is False and report["failed_gates"] == ["fp32 atol"]
    assert 0.009 < report["variants"][0]["metrics"]["max_abs_diff"] < 0.011
    assert "FAIL: fp32 atol" in (tiny_run / "export" / "bundle" / "report.txt").read_text()


def test_int8_with_a_big_accuracy_drop_fails_its_gate_after_trying_each_scheme(tiny_run, monkeypatch, capsys):
    from ftui.export import variants

    real = variants.quantize_int8

    def quantize_then_break(src, out, scheme, *rest):
        path = real(src, out, scheme, *rest)
        shift_classifier_bias(path, label=0, amount=50.0)  # every text now gets label 0
        return path

    monkeypatch.setattr(variants, "quantize_int8", quantize_then_break)
    code = main(["export", str(tiny_run), "--onnx", "--quantize", "int8", "--no-benchmark"])
    err = capsys.readouterr().err
    assert code == 1 and "int8 accuracy drop" in err
    bundle = tiny_run / "export" / "bundle"
    report = json.loads((bundle / "report.json").read_text())
    assert report["failed_gates"] == ["int8 accuracy drop"]
    assert [t["scheme"] for t in report["int8_tried"]] == ["per-channel", "per-tensor", "fp32-embeddings"]
    int8 = report["variants"][-1]
    assert int8["metrics"]["accuracy_drop_pts"] > 10 and int8["metrics"]["label_agreement"] < 0.9
    # The failed variant is kept for inspection but is not what predict uses.
    assert report["default_model"] == "onnx/model.onnx"
    assert sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*.onnx")) == \
        ["onnx/model.onnx", "onnx/model_quantized.onnx"]  # the other schemes' files are gone


def test_int8_falls_back_to_fp32_embeddings_when_int8_embeddings_cost_too_much(tiny_run, monkeypatch):
    """When only the schemes that quantize the embedding table lose accuracy, the last scheme is kept."""
    from ftui.export import variants
    from ftui.export.pipeline import ExportOptions, run_export

    real = variants.quantize_int8

    def embeddings_matter(src, out, scheme, *rest):
        path = real(src, out, scheme, *rest)
        if not scheme.fp32_embeddings:
            shift_classifier_bias(path, label=0, amount=50.0)
        return path

    monkeypatch.setattr(variants, "quantize_int8", embeddings_matter)
    report = run_export(ExportOptions(tiny_run, quantize="int8", benchmark=False, threads=1))
    assert report.passed, report.failed_gates
    assert [(t["scheme"], t["passed"]) for t in report.int8_tried] == \
        [("per-channel", False), ("per-tensor", False), ("fp32-embeddings", True)]
    int8 = report.variants[-1]
    assert int8.file == "onnx/model_quantized.onnx" and "fp32 embeddings" in int8.note
    assert report.default_model == "onnx/model_quantized.onnx"


def test_fp32_embeddings_keep_the_word_table_and_quantize_the_matmuls(tiny_run, tmp_path):
    from ftui.export.pipeline import ExportOptions, run_export
    from ftui.export.variants import INT8_SCHEMES, has_embedding_tables, quantize_int8

    fp32 = run_export(ExportOptions(tiny_run, benchmark=False, threads=1, output=tmp_path)).bundle_path / "onnx" / "model.onnx"
    assert has_embedding_tables(fp32)
    graphs = {s.name: onnx.load(str(quantize_int8(fp32, tmp_path / f"{s.name}.onnx", s))).graph for s in INT8_SCHEMES}
    for name, graph in graphs.items():
        weights = {i.name: i.data_type for i in graph.initializer}
        table = next(n.input[0] for n in graph.node if n.op_type == "Gather" and "word_embeddings" in n.input[0])
        assert (weights[table] == onnx.TensorProto.FLOAT) == (name == "fp32-embeddings"), name
        assert any(n.op_type == "MatMulInteger" for n in graph.node), name


def test_a_tight_accuracy_threshold_is_enforced_on_real_int8(tiny_run, capsys):
    """No tampering: a threshold below what int8 really loses (or gains) must fail exactly when it should."""
    code = main(["export", str(tiny_run), "--onnx", "--quantize", "int8", "--no-benchmark",
                 "--max-accuracy-drop", "0"])
    report = json.loads((tiny_run / "export" / "bundle" / "report.json").read_text())
    drops = [t["accuracy_drop_pts"] for t in report["int8_tried"]]
    failed = all(d > 0 for d in drops)
    assert ("int8 accuracy drop" in report["failed_gates"]) == failed
    assert code == (1 if failed else 0)


def test_gate_boundaries():
    assert gates.atol_gate("fp32", 1e-4, 1e-4).passed and not gates.atol_gate("fp32", 1.1e-4, 1e-4).passed
    assert gates.accuracy_gate("int8", 1.0, 1.0).passed and not gates.accuracy_gate("int8", 1.01, 1.0).passed
    assert not gates.tokenization_gate({"texts": 3, "mismatches": 1, "first_mismatch": "x"}).passed
    bad = {"input": "batch 3 x sequence 17", "output_shape": [3, 3], "static_axes": ["input_ids[0]"], "ok": False}
    assert "input_ids[0]" in gates.shape_gate("fp32", bad).detail and not gates.shape_gate("fp32", bad).passed


def test_metrics_match_hand_computed_values():
    from ftui.export.metrics import compare
    from ftui.rundir.metrics import f1_macro

    truth = np.array([0, 0, 1, 1, 2])
    pred = np.array([0, 1, 1, 1, 0])
    # class 0: tp1 fp1 fn1 -> 0.5; class 1: tp2 fp1 fn0 -> 0.8; class 2: tp0 -> 0
    assert abs(f1_macro(pred, truth) - (0.5 + 0.8 + 0.0) / 3) < 1e-12
    ref = np.eye(3)[truth] * 2.0
    got = np.eye(3)[pred] * 2.0
    m = compare(got, ref, truth)
    assert m["accuracy"] == 0.6 and m["label_agreement"] == 0.6 and m["max_abs_diff"] == 2.0
    assert abs(m["accuracy_drop_pts"] - 40.0) < 1e-9


def test_bundle_default_is_the_fastest_passing_variant_preferring_the_smaller():
    from types import SimpleNamespace

    from ftui.export.pipeline import _Export
    from ftui.export.report import ExportReport, VariantResult

    def choice(latency_ms: dict, failed: tuple = ()):
        report = ExportReport("s", "c", Path("b"))
        report.variants = [VariantResult(n, f"model.{n}.onnx", 1, {}, {}) for n in latency_ms]
        report.gates = [gates.Gate(f"{n} accuracy drop", n not in failed, "") for n in latency_ms]
        report.benchmark = [{"runtime": n, "batch": 1, "median_ms": ms} for n, ms in latency_ms.items()]
        return _Export.default_model(SimpleNamespace(report=report))

    assert choice({"fp32": 10.0, "int8": 5.0}) == "model.int8.onnx"             # transformers: int8 wins
    assert choice({"fp32": 13.6, "int8": 49.3}) == "model.fp32.onnx"            # conv nets: int8 is slower
    assert choice({"fp32": 10.0, "int8": 10.5}) == "model.int8.onnx"            # within 10%: the smaller
    assert choice({"fp32": 10.0, "int8": 5.0}, failed=("int8",)) == "model.fp32.onnx"
