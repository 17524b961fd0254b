"""The bundle's layout and tokenizer files give every runtime the same answers: ONNX files in onnx/
(transformers.js's names), tokenizer files that truncate at bundle.json's max_length, and bundles from
before the onnx/ folder still loading."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from export_fixtures import exported_run, tiny_checkpoint, validation_rows  # noqa: F401

from ftui.export.bundle import align_tokenizer_files
from ftui.export.predictor import Predictor, PredictorError
from ftui.tui.cli import main


@pytest.fixture(scope="module")
def bundle(exported_run) -> Path:
    return exported_run[1].bundle_path


@pytest.fixture(scope="module")
def long_text(validation_rows) -> str:
    """Real tweets joined past max_length (64) but within the tiny model's 128 positions."""
    return " ".join(r["text"] for r in validation_rows[:4])  # 92 tokens


def tokenizer_lengths(folder: Path) -> dict[str, int | None]:
    """Every max length the folder's tokenizer files state, read as plain JSON (not through ftui)."""
    config = json.loads((folder / "tokenizer_config.json").read_text())
    truncation = json.loads((folder / "tokenizer.json").read_text()).get("truncation") or {}
    found = {"tokenizer_config.json model_max_length": config.get("model_max_length"),
             "tokenizer.json truncation.max_length": truncation.get("max_length")}
    if "max_length" in config:
        found["tokenizer_config.json max_length"] = config["max_length"]
    return found


def test_onnx_files_sit_in_onnx_beside_config_and_tokenizer(bundle):
    manifest = json.loads((bundle / "bundle.json").read_text())
    assert manifest["models"] == {"fp32": "onnx/model.onnx", "O2": "onnx/model_O2.onnx",
                                  "int8": "onnx/model_quantized.onnx"}
    assert manifest["default_model"] in manifest["models"].values()
    assert sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*.onnx")) == \
        sorted(manifest["models"].values())  # no flat copies left behind
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        assert (bundle / name).is_file(), name
    assert json.loads((bundle / "report.json").read_text())["default_model"] == manifest["default_model"]


def test_every_tokenizer_file_says_bundle_json_max_length(bundle, tiny_checkpoint):
    max_length = json.loads((bundle / "bundle.json").read_text())["max_length"]
    assert tokenizer_lengths(tiny_checkpoint)["tokenizer_config.json model_max_length"] == 512  # what it fixes
    assert set(tokenizer_lengths(bundle).values()) == {max_length}


def test_alignment_writes_a_tokenizer_config_where_there_is_none(tmp_path):
    (tmp_path / "tokenizer.json").write_text(json.dumps({"truncation": {"max_length": 512, "strategy": "LongestFirst"}}))
    align_tokenizer_files(tmp_path, 32)
    assert tokenizer_lengths(tmp_path) == {"tokenizer_config.json model_max_length": 32,
                                           "tokenizer.json truncation.max_length": 32}


def test_a_text_past_max_length_scores_the_same_in_ftui_predict_py_and_optimum(bundle, long_text, capsys):
    """optimum's pipeline with truncation=True cuts at tokenizer_config.json's model_max_length."""
    from optimum.onnxruntime import ORTModelForSequenceClassification
    from transformers import AutoTokenizer, pipeline

    from tokenizers import Tokenizer

    whole = Tokenizer.from_file(str(bundle / "tokenizer.json"))
    whole.no_truncation()
    assert 64 < len(whole.encode(long_text).ids) < 128  # within the model's positions: untruncated would run too
    assert main(["predict", str(bundle), "--json", long_text]) == 0  # the default model: int8 here
    ftui = json.loads(capsys.readouterr().out)["scores"]
    script = subprocess.run([sys.executable, "predict.py", "--json", long_text], cwd=bundle,
                            capture_output=True, text=True, timeout=120)
    assert script.returncode == 0, script.stderr
    standalone = json.loads(script.stdout)["scores"]
    default = Path(json.loads((bundle / "bundle.json").read_text())["default_model"])
    assert default.parent.name == "onnx"
    model = ORTModelForSequenceClassification.from_pretrained(bundle, file_name=default.name)  # found in onnx/
    classify = pipeline("text-classification", model=model, tokenizer=AutoTokenizer.from_pretrained(bundle))
    optimum = {r["label"]: r["score"] for r in classify(long_text, truncation=True, top_k=None)}
    for other in (standalone, optimum):
        assert max(abs(ftui[k] - other[k]) for k in ftui) < 1e-4, (ftui, other)


def flat_copy(bundle: Path, to: Path) -> Path:
    """The bundle as exports before the onnx/ folder wrote it: model.onnx, model.O2.onnx, model.int8.onnx."""
    old = shutil.copytree(bundle, to)
    manifest = json.loads((old / "bundle.json").read_text())
    flat = {"fp32": "model.onnx", "O2": "model.O2.onnx", "int8": "model.int8.onnx"}
    for variant, file in manifest["models"].items():
        (old / file).rename(old / flat[variant])
    (old / "onnx").rmdir()
    manifest["default_model"] = flat[{v: k for k, v in manifest["models"].items()}[manifest["default_model"]]]
    manifest["models"] = flat
    (old / "bundle.json").write_text(json.dumps(manifest))
    return old


def test_a_flat_bundle_from_an_earlier_export_still_predicts(bundle, tmp_path, validation_rows):
    old = flat_copy(bundle, tmp_path / "old")
    texts = [r["text"] for r in validation_rows[:8]]
    for model in (None, "int8", "model.onnx", "O2"):
        new_model = "fp32" if model == "model.onnx" else model
        assert Predictor(old, model=model).predict(texts) == Predictor(bundle, model=new_model).predict(texts), model
    legacy = json.loads((old / "bundle.json").read_text())
    legacy.pop("models")  # the first bundles named only default_model
    (old / "bundle.json").write_text(json.dumps(legacy))
    assert Predictor(old).model_path == old / legacy["default_model"]


def test_a_model_the_bundle_lacks_is_one_line_naming_what_it_has(bundle):
    with pytest.raises(PredictorError, match=r"model\.int8\.onnx: no such ONNX model; this bundle has fp32 "
                                             r"\(onnx/model\.onnx\), O2 \(onnx/model_O2\.onnx\), int8"):
        Predictor(bundle, model="model.int8.onnx")
