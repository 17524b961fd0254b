"""Fine-tuning the pretrained mobilenet-v2 preset on real digits at 32 px: each strategy trains and exports,
the full fine-tune passes every gate with int8, and its bundle predicts with onnxruntime, numpy and Pillow."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import events_of, ftui
from image_fixtures import digit_images
from mobilenet_fixtures import mobilenet_home  # noqa: F401
from torch_free import IMAGE_PACKAGES, assert_cannot_import, clean_env, torch_free_python

STEPS = 3


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> tuple[Path, Path]:
    """8 training and 10 validation digits per class, disjoint (export calibrates on training rows
    and refuses a sample that is all validation rows)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("mobilenet-digits")
    seen: dict = {}
    for i, (pixels, label) in enumerate(digit_images(18, range(3))):
        seen[label] = seen.get(label, 0) + 1
        folder = root / ("train" if seen[label] <= 8 else "val") / label
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    return root / "train", root / "val"


def train(cwd: Path, digits, strategy: str, *extra) -> Path:
    result = ftui("train", "--headless", "--task", "image-classification", "--data", digits[0], "--validation",
                  digits[1], "--strategy", strategy, "--max-steps", str(STEPS), "--name", strategy,
                  "--set", "data.image_size=32", "--set", "train.batch_size=8", "--set", f"train.eval_every={STEPS}",
                  "--set", "train.threads=1", "--set", "train.warmup_ratio=0", *extra, cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return cwd / "runs" / strategy


def export(run: Path, quantize: bool = False) -> dict:
    from ftui.export.pipeline import ExportOptions, run_export

    report = run_export(ExportOptions(source=run, quantize="int8" if quantize else None, benchmark=False))
    assert report.passed, report.failed_gates
    return json.loads((run / "export" / "bundle" / "report.json").read_text())


def weights(run: Path) -> dict:
    from safetensors.numpy import load_file

    return load_file(str(run / "checkpoints" / f"checkpoint-{STEPS}" / "model.safetensors"))


@pytest.fixture(scope="module")
def full_run(mobilenet_home, digits, tmp_path_factory) -> Path:
    return train(tmp_path_factory.mktemp("full"), digits, "full", "--lr", "1e-3")


def test_the_default_image_model_is_the_pretrained_preset(full_run, mobilenet_home):
    start = events_of(full_run, "run_start")[0]
    assert start["model"] == "mobilenet-v2" and start["model_source"] == str(mobilenet_home)
    assert start["image_size"] == "32x32" and start["params_total"] == 3_504_872 - 1000 * 1281 + 3 * 1281


def test_frozen_trains_the_head_with_the_backbone_and_its_statistics_fixed(mobilenet_home, digits, tmp_path):
    from safetensors.numpy import load_file

    run = train(tmp_path, digits, "frozen", "--lr", "5e-3")
    start = events_of(run, "run_start")[0]
    assert start["params_trainable"] == 3 * 1281  # the new head: 1280 features -> 3 digits, plus biases
    before, after = load_file(str(mobilenet_home / "model.safetensors")), weights(run)
    for name in ("mobilenet_v2.layer.7.conv_3x3.normalization.running_mean",
                 "mobilenet_v2.conv_stem.first_conv.normalization.running_var",
                 "mobilenet_v2.layer.15.expand_1x1.convolution.weight"):
        assert (after[name] == before[name]).all(), f"{name} changed in a frozen backbone"
    assert export(run)["variants"][0]["metrics"]["label_agreement"] == 1.0


def test_llrd_trains_every_stage_and_exports(mobilenet_home, digits, tmp_path):
    from safetensors.numpy import load_file

    run = train(tmp_path, digits, "llrd", "--lr", "1e-3")
    assert events_of(run, "run_start")[0]["strategy"] == "llrd"
    before, after = load_file(str(mobilenet_home / "model.safetensors")), weights(run)
    stem = "mobilenet_v2.conv_stem.first_conv.convolution.weight"
    assert not (after[stem] == before[stem]).all(), "the stem trains too, at the smallest lr"
    export(run)


def test_lora_adapts_the_pointwise_convs_and_exports_a_plain_model(mobilenet_home, digits, tmp_path):
    run = train(tmp_path, digits, "lora", "--lr", "3e-3")
    start = events_of(run, "run_start")[0]
    assert start["strategy"] == "lora" and start["params_trainable"] < start["params_total"] / 10
    checkpoint = run / "checkpoints" / f"checkpoint-{STEPS}"
    assert json.loads((checkpoint / "config.json").read_text())["architectures"] == ["MobileNetV2ForImageClassification"]
    assert (checkpoint / "adapter" / "adapter_model.safetensors").is_file()
    export(run)


@pytest.fixture(scope="module")
def full_bundle(full_run) -> tuple[Path, dict]:
    return full_run / "export" / "bundle", export(full_run, quantize=True)


def test_the_fine_tuned_mobilenet_passes_every_gate_with_int8(full_bundle):
    _, report = full_bundle
    gates = {g["name"]: g["passed"] for g in report["gates"]}
    assert all(gates.values()) and "int8 accuracy drop" in gates and "preprocessing" in gates, gates
    assert report["preprocessing"]["images"] == 30 and report["preprocessing"]["max_abs_diff"] <= 1e-5
    assert report["variants"][0]["metrics"]["max_abs_diff"] < 1e-4
    # A conv net's int8 is static (calibrated QDQ): dynamic int8 lost MobileNetV2 6.7 points on digits.
    assert report["int8_tried"][0]["scheme"] == "static" and "static int8 (QDQ)" in report["variants"][1]["note"]


def test_the_bundle_predicts_with_onnxruntime_numpy_and_pillow_alone(full_bundle, digits, tmp_path):
    from ftui.export.predictor_image import ImagePredictor

    bundle, _ = full_bundle
    python, env = torch_free_python(tmp_path, IMAGE_PACKAGES), clean_env()
    assert_cannot_import(python, ("torch", "transformers"), env)
    images = [str(p) for p in sorted(digits[1].rglob("*.png"))[:4]]
    expected = [f"{r['label']}\t{r['score']:.3f}\t{r['image']}" for r in ImagePredictor(bundle).predict(images)]
    standalone = subprocess.run([str(python), "predict.py", *images], cwd=bundle, capture_output=True, text=True,
                                env=env, timeout=120)
    assert standalone.returncode == 0, standalone.stderr
    assert standalone.stdout.splitlines() == expected
