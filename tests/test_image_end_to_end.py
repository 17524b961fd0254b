"""Image classification end to end: training on real digits, the cockpit on that run, export with its
preprocessing gate, and torch-free prediction (tiny random ResNet: no pretrained vision weights exist offline)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import events_of, ftui
from image_fixtures import assert_one_line_error, image_folder, tiny_resnet  # noqa: F401
from PIL import Image
from torch_free import IMAGE_PACKAGES, assert_cannot_import, clean_env, torch_free_python


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory, tiny_resnet) -> Path:
    cwd = tmp_path_factory.mktemp("digits")
    result = ftui("train", "--headless", "--task", "image-classification", "--model", tiny_resnet,
                  "--epochs", "2", "--lr", "0.01", "--name", "digits", "--set", "train.threads=1", cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return cwd / "runs" / "digits"


def test_training_on_digits_beats_chance(digits_run):
    start = events_of(digits_run, "run_start")[0]
    assert start["task"] == "image-classification" and start["image_size"] == "32x32"
    assert start["train_rows"] == 1438 and start["validation_rows"] == 359 and start["augment"] == "crop"
    final = events_of(digits_run, "eval")[-1]["metrics"]
    step = events_of(digits_run, "step")[-1]
    assert step["samples_per_s"] > 0 and step["tokens_per_s"] is None  # images: no token rate
    assert final["accuracy"] > 0.5, final  # 10 classes: chance is 0.1
    lines = [json.loads(line) for line in (digits_run / "data" / "validation.jsonl").read_text().splitlines()]
    assert len(lines) == 359 and lines[0]["image"] == "validation/000001.png"
    assert Image.open(digits_run / "data" / lines[0]["image"]).size == (8, 8)
    best = json.loads((digits_run / "checkpoints" / "best.json").read_text())["checkpoint"]
    checkpoint = digits_run / "checkpoints" / best
    assert (checkpoint / "preprocessor_config.json").is_file()


async def test_cockpit_shows_the_image_run(digits_run):
    from tui_pilot import open_cockpit, wait_for, widget_text

    app = open_cockpit(digits_run)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "FINISHED" in widget_text(app, "#header"), what="finished")
        assert "accuracy" in widget_text(app, "#metrics")


@pytest.fixture(scope="module")
def exported(digits_run) -> dict:
    result = ftui("export", digits_run, "--onnx", "--quantize", "int8", "--threads", "1", cwd=digits_run.parent)
    report = json.loads((digits_run / "export" / "bundle" / "report.json").read_text())
    return {"result": result, "report": report, "bundle": digits_run / "export" / "bundle"}


def test_export_gates_pass_on_the_validation_images(exported):
    report = exported["report"]
    gates = {g["name"]: g for g in report["gates"]}
    for name in ("preprocessing", "fp32 atol", "fp32 accuracy drop", "fp32 dynamic axes", "int8 dynamic axes"):
        assert gates[name]["passed"], gates[name]
    assert report["preprocessing"]["images"] == 359 and report["preprocessing"]["max_abs_diff"] <= 1e-5
    fp32 = report["variants"][0]["metrics"]
    assert fp32["label_agreement"] == 1.0 and fp32["max_abs_diff"] < 1e-4
    assert report["variants"][1]["name"] == "int8" and report["variants"][1]["metrics"]["label_agreement"] > 0.9
    assert report["benchmark"]["setup"]["image"] == "32x32"
    assert {r["batch"] for r in report["benchmark"]["rows"]} == {1, 32}
    assert exported["result"].returncode == (0 if report["passed"] else 1), exported["result"].stderr[-2000:]
    manifest = json.loads((exported["bundle"] / "bundle.json").read_text())
    assert manifest["task"] == "image-classification" and manifest["image_size"] == [32, 32]
    assert manifest["preprocessing"]["crop_pct"] == 0.875


def test_fp32_bundle_predicts_what_pytorch_predicts(exported, digits_run):
    import torch
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    from ftui.export.predictor_image import ImagePredictor

    bundle = exported["bundle"]
    images = sorted((digits_run / "data" / "validation").glob("*.png"))[:40]
    results = ImagePredictor(bundle, model="fp32").predict(images)
    checkpoint = Path(exported["report"]["checkpoint"])
    processor = AutoImageProcessor.from_pretrained(checkpoint, use_fast=False)
    model = AutoModelForImageClassification.from_pretrained(checkpoint).eval()
    with torch.inference_mode():
        pixels = processor(images=[Image.open(p).convert("RGB") for p in images], return_tensors="pt")["pixel_values"]
        expected = model(pixel_values=pixels).logits.argmax(-1).tolist()
    assert [r["label"] for r in results] == [model.config.id2label[i] for i in expected]
    assert all(abs(sum(r["scores"].values()) - 1) < 1e-5 for r in results)


def test_ftui_predict_and_bad_images(exported, digits_run, tmp_path):
    bundle, image = exported["bundle"], digits_run / "data" / "validation" / "000001.png"
    result = ftui("predict", bundle, image, check=True)
    label, score, path = result.stdout.strip().split("\t")
    assert label in json.loads((bundle / "labels.json").read_text()) and 0 < float(score) <= 1 and path == str(image)
    listed = tmp_path / "images.txt"
    listed.write_text(f"{image}\n\n{image}\n")
    out = ftui("predict", bundle, "--file", listed, "--json", check=True).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 2 and set(rows[0]["scores"]) == {str(d) for d in range(10)}
    (tmp_path / "bad.png").write_bytes(b"garbage")
    assert_one_line_error(ftui("predict", bundle, tmp_path / "bad.png"), "bad.png: not a readable image")
    assert_one_line_error(ftui("predict", bundle, tmp_path / "missing.png"), "missing.png: no such image file")


def test_export_refuses_a_checkpoint_without_its_image_processor(exported, tmp_path):
    import shutil

    checkpoint = tmp_path / "ck"
    shutil.copytree(exported["report"]["checkpoint"], checkpoint)
    (checkpoint / "preprocessor_config.json").unlink()
    assert_one_line_error(ftui("export", checkpoint, "--onnx", "--data", tmp_path), "no preprocessor_config.json")


def test_export_reads_a_folder_or_csv_of_validation_images(tmp_path):
    from ftui.export.errors import ExportError
    from ftui.export.task_image import ImageClassification

    root = image_folder(tmp_path / "val", n_per_class=2)
    examples = ImageClassification().load_examples(root, ["0", "1", "2"])
    assert len(examples) == 6 and examples.truth.tolist() == [0, 0, 1, 1, 2, 2]
    (tmp_path / "val.csv").write_text("image,label\nval/2/002.png,2\nval/0/000.png,0\n")
    assert ImageClassification().load_examples(tmp_path / "val.csv", ["0", "1", "2"]).truth.tolist() == [2, 0]
    (tmp_path / "bad.csv").write_text("image,label\nval/2/404.png,2\n")
    with pytest.raises(ExportError, match="no such image file"):
        ImageClassification().load_examples(tmp_path / "bad.csv", ["0", "1", "2"])


def test_bundle_predicts_without_torch(exported, digits_run, tmp_path):
    from ftui.export.predictor_image import ImagePredictor

    python, bundle, env = torch_free_python(tmp_path, IMAGE_PACKAGES), exported["bundle"], clean_env()
    assert_cannot_import(python, ("torch", "transformers"), env)
    images = [str(p) for p in sorted((digits_run / "data" / "validation").glob("*.png"))[:3]]
    expected = [f"{r['label']}\t{r['score']:.3f}\t{r['image']}" for r in ImagePredictor(bundle).predict(images)]
    standalone = subprocess.run([str(python), "predict.py", *images], cwd=bundle, capture_output=True, text=True,
                                env=env, timeout=120)
    assert standalone.returncode == 0, standalone.stderr
    assert standalone.stdout.splitlines() == expected
    via_ftui = subprocess.run([str(python), "-m", "ftui.tui.cli", "predict", str(bundle), *images],
                              capture_output=True, text=True, env=env, timeout=120)
    assert via_ftui.returncode == 0, via_ftui.stderr
    assert via_ftui.stdout.splitlines() == expected
    missing = subprocess.run([str(python), "predict.py", "nope.png"], cwd=bundle, capture_output=True, text=True,
                             env=env)
    assert missing.returncode == 2 and "no such image file" in missing.stderr and "Traceback" not in missing.stderr
