"""Static int8 calibrates on training rows only; the fp32 fallback rescues an int8 that fails the gate.

Given the tiny BERT run with a calibration sample of training tweets, the export tries static int8
(QDQ) beside dynamic int8, feeds the calibrator only training rows, and when int8 is built to fail
the gate gives the costliest block back to fp32 until it passes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from export_fixtures import tiny_checkpoint, tiny_run, validation_rows  # noqa: F401
from onnx import numpy_helper

from ftui.tui.cli import main


@pytest.fixture
def training_rows(tweets_rows, validation_rows) -> list[dict]:
    held_out = {r["text"] for r in validation_rows}
    return [r for r in tweets_rows if r["text"] not in held_out][::3][:64]


def write_sample(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def token_rows(checkpoint: Path, texts: list[str]) -> set[tuple]:
    from ftui.export.predictor import load_tokenizer

    tok = load_tokenizer(checkpoint / "tokenizer.json", 64, "[PAD]")
    return {tuple(e.ids[:sum(e.attention_mask)]) for e in tok.encode_batch(texts)}


def test_static_int8_is_calibrated_on_training_rows_never_on_validation_rows(
        tiny_run, training_rows, validation_rows, monkeypatch):
    from ftui.export import int8
    from ftui.export.pipeline import ExportOptions, run_export

    # Four validation rows slipped into the sample: the export must leave them out.
    write_sample(tiny_run / "data" / "calibration.jsonl", training_rows + validation_rows[:4])
    fed = []

    class Recording(int8.CalibrationReader):
        def get_next(self):
            batch = super().get_next()
            if batch is not None:
                fed.extend(tuple(ids[mask == 1]) for ids, mask in zip(batch["input_ids"], batch["attention_mask"]))
            return batch

    monkeypatch.setattr(int8, "CalibrationReader", Recording)
    report = run_export(ExportOptions(tiny_run, quantize="int8", benchmark=False, threads=1))
    checkpoint = Path(report.checkpoint)
    assert fed and set(fed) <= token_rows(checkpoint, [r["text"] for r in training_rows])
    assert not set(fed) & token_rows(checkpoint, [r["text"] for r in validation_rows])
    assert [t["scheme"] for t in report.int8_tried][:1] == ["static"] and report.int8_tried[0]["static"]
    assert any(not t["static"] for t in report.int8_tried)  # dynamic int8 is reported beside it
    assert "64 training rows" in report.int8_notes[0] and "4 validation rows left out" in report.int8_notes[0]
    int8_file = onnx.load(str(report.bundle_path / "onnx" / "model_quantized.onnx"))
    assert report.passed and any(n.op_type in ("QuantizeLinear", "MatMulInteger", "DynamicQuantizeLinear")
                                 for n in int8_file.graph.node)


def flip_classifier(path: Path) -> Path:
    """Negates the classifier's int8 weights in a quantized file (if it was quantized): int8 there now
    costs nearly every label, and only keeping the classifier in fp32 undoes it."""
    model = onnx.load(str(path))
    for init in model.graph.initializer:
        if init.name.startswith("classifier.weight") and init.data_type == onnx.TensorProto.INT8:
            weights = numpy_helper.to_array(init).astype(np.int16)
            init.CopyFrom(numpy_helper.from_array((-weights).clip(-127, 127).astype(np.int8), init.name))
    onnx.save(model, str(path))
    return path


def test_the_fallback_keeps_the_costliest_block_in_fp32_until_the_gate_passes(
        tiny_run, training_rows, monkeypatch, capsys):
    from ftui.export import variants

    write_sample(tiny_run / "data" / "calibration.jsonl", training_rows)
    for name in ("quantize_int8", "quantize_static_int8"):
        real = getattr(variants, name)
        monkeypatch.setattr(variants, name, lambda src, out, *a, real=real: flip_classifier(real(src, out, *a)))
    code = main(["export", str(tiny_run), "--onnx", "--quantize", "int8", "--no-benchmark", "--threads", "1"])
    bundle = tiny_run / "export" / "bundle"
    report = json.loads((bundle / "report.json").read_text())
    assert code == 0, capsys.readouterr().err
    assert all(not t["passed"] for t in report["int8_tried"]) and len(report["int8_tried"]) >= 4
    fallback = report["int8_fallback"]
    assert fallback["ranking"][0]["block"] == "classifier" and fallback["ranking"][0]["sqnr_db"] < 0
    step = fallback["steps"][-1]
    assert step["passed"] and step["added_block"] == "classifier" and step["fp32_nodes"]
    assert step["drop_bought_pts"] > 10 and step["accuracy_drop_pts"] <= 1.0
    graph = onnx.load(str(bundle / "onnx" / "model_quantized.onnx")).graph
    kept = {n.name for n in graph.node if n.name in step["fp32_nodes"]}
    classifier_inputs = {i for n in graph.node if n.name in kept for i in n.input}
    assert kept and not any("quantized" in i or "DequantizeLinear" in i for i in classifier_inputs)
    assert "fallback 1: + classifier fp32" in (bundle / "report.txt").read_text()
    assert not list(bundle.rglob("model.int8.*.onnx")) and not list(bundle.glob("*.onnx"))


def test_a_graph_static_int8_cannot_handle_keeps_dynamic_int8_with_a_note(tiny_run, training_rows, monkeypatch):
    import onnxruntime.quantization

    from ftui.export.pipeline import ExportOptions, run_export

    def cannot(*args, **kwargs):
        raise ValueError("Unsupported op type FancyAttention for calibration")

    write_sample(tiny_run / "data" / "calibration.jsonl", training_rows)
    monkeypatch.setattr(onnxruntime.quantization, "quantize_static", cannot)
    report = run_export(ExportOptions(tiny_run, quantize="int8", benchmark=False, threads=1))
    assert report.passed and [t["scheme"] for t in report.int8_tried] == ["per-channel"]
    assert "could not quantize this graph statically (ValueError: Unsupported op" in report.int8_notes[-1]
    assert "dynamic int8, per-channel" in report.variants[-1].note


def test_without_a_calibration_sample_static_int8_is_skipped_not_an_error(tiny_run):
    from ftui.export.pipeline import ExportOptions, run_export

    report = run_export(ExportOptions(tiny_run, quantize="int8", benchmark=False, threads=1))
    assert report.passed and not any(t["static"] for t in report.int8_tried)
    assert report.int8_notes == ["static int8 skipped: no calibration sample (the run's data/calibration.jsonl, "
                                 "or --calibration FILE)"]


@pytest.mark.parametrize("case, words", [
    ("budget-0", "--fallback-budget 0: must be at least 1"),
    ("empty", "the calibration sample is empty"),
    ("one-class", "holds one class only ('negative')"),
    ("validation-rows", "every calibration row is also a validation row"),
    ("missing", "no such calibration file"),
])
def test_bad_calibration_input_is_one_line_exit_2_and_keeps_the_earlier_bundle(
        tiny_run, training_rows, validation_rows, capsys, case, words):
    bundle = tiny_run / "export" / "bundle"
    bundle.mkdir(parents=True)
    (bundle / "bundle.json").write_text('{"earlier": true}')
    sample = tiny_run / "sample.jsonl"
    rows = {"empty": [], "one-class": [r for r in training_rows if r["label"] == "negative"],
            "validation-rows": validation_rows[:10]}.get(case, training_rows)
    if case != "missing":
        write_sample(sample, rows)
    extra = ["--fallback-budget", "0"] if case == "budget-0" else []
    code = main(["export", str(tiny_run), "--onnx", "--quantize", "int8", "--no-benchmark",
                 "--calibration", str(sample), *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and words in err, err
    assert sorted(p.name for p in (tiny_run / "export").iterdir()) == ["bundle"]
    assert [p.name for p in bundle.iterdir()] == ["bundle.json"] and "earlier" in (bundle / "bundle.json").read_text()


def test_the_calibration_sample_is_seeded_stratified_and_from_training_rows_only():
    from ftui.trainer.data.text import CALIBRATION_ROWS, TextDataset, calibration_sample

    labels = ["a"] * 600 + ["b"] * 300 + ["c"] * 100
    train = TextDataset([f"text {i}" for i in range(len(labels))], labels)
    one, again, other = calibration_sample(train, 7), calibration_sample(train, 7), calibration_sample(train, 8)
    assert one == again and one != other and len(one) == CALIBRATION_ROWS
    assert set(one.texts) <= set(train.texts) and len(set(one.texts)) == len(one)
    share = {k: one.labels.count(k) / len(one) for k in "abc"}
    assert share == pytest.approx({"a": 0.6, "b": 0.3, "c": 0.1}, abs=0.01)


def test_calibration_batches_are_padded_to_one_length_for_the_histogram_calibrators():
    from ftui.export.calibration import same_length

    batches = [{"input_ids": np.ones((2, 3), np.int64), "attention_mask": np.ones((2, 3), np.int64)},
               {"input_ids": np.ones((1, 5), np.int64), "attention_mask": np.ones((1, 5), np.int64)}]
    out = same_length(batches, pad_id=9)
    assert [b["input_ids"].shape for b in out] == [(2, 5), (1, 5)]
    assert out[0]["input_ids"][0].tolist() == [1, 1, 1, 9, 9] and out[0]["attention_mask"][0].tolist() == [1, 1, 1, 0, 0]


def _try(file: str, drop: float):
    from ftui.export.report import VariantResult
    from ftui.export.variants import Int8Scheme

    return Int8Scheme(file, True), VariantResult("int8", file, 1, {"accuracy_drop_pts": drop}, {})


def test_of_the_passing_tries_the_fastest_wins_and_near_ties_go_to_the_smaller_drop():
    from ftui.export.int8 import SPEED_TIE, choose

    static, dynamic, failing = _try("static", 0.1), _try("dynamic", 0.4), _try("fast-but-failing", 3.0)
    tries = [static, dynamic, failing]
    assert choose(tries, 1.0) is static  # no timings: the smallest drop
    assert choose(tries, 1.0, {"static": 7.7, "dynamic": 5.6, "fast-but-failing": 1.0}) is dynamic
    assert choose(tries, 1.0, {"static": 5.6 * SPEED_TIE * 0.99, "dynamic": 5.6, "fast-but-failing": 1.0}) is static
    assert choose([failing, _try("worse", 5.0)], 1.0, {}) is failing  # none passes: the smallest drop
