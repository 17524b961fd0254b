"""Image classification end to end: readers, bad input through the real CLI, training on real digits,
the cockpit on that run, export with its preprocessing gate, and torch-free prediction.

The model is a tiny randomly initialised ResNet (no pretrained vision weights exist offline) with a
ConvNeXt-style image processor (shortest edge 32, crop_pct 0.875), as microsoft/resnet-50 ships.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from conftest import events_of, ftui
from PIL import Image

from ftui.trainer.errors import DataError
from ftui.trainer.image_data import (DEMOS, FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, fashion_mnist,
                                     load_image_data, read_idx)
from ftui.trainer.recipe import DataSection

REPO = Path(__file__).resolve().parent.parent
TORCH_FREE = ("numpy", "numpy.libs", "onnxruntime", "PIL", "pillow.libs")


@pytest.fixture(scope="session")
def tiny_resnet(tmp_path_factory) -> Path:
    """A 2-stage, 8/16-wide ResNet with random weights and the image processor resnet-50 uses, at 32 px."""
    import torch
    from transformers import ConvNextImageProcessor, ResNetConfig, ResNetModel

    path = tmp_path_factory.mktemp("tiny-resnet")
    torch.manual_seed(0)
    config = ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic")
    ResNetModel(config).save_pretrained(path)
    ConvNextImageProcessor(size={"shortest_edge": 32}, crop_pct=0.875).save_pretrained(path)
    return path


def digit_images(n_per_class: int, classes=range(10)) -> list[tuple[np.ndarray, str]]:
    """Real 8x8 digits from scikit-learn's bundled data, the first n of each class."""
    from ftui.trainer.image_data import digits

    data, seen, out = digits(), {}, []
    for image, label in zip(data.images, data.labels):
        if int(label) in classes and seen.get(label, 0) < n_per_class:
            seen[label] = seen.get(label, 0) + 1
            out.append((image, label))
    return out


def image_folder(root: Path, n_per_class: int = 6, classes=range(3)) -> Path:
    for i, (image, label) in enumerate(digit_images(n_per_class, classes)):
        (root / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(root / label / f"{i:03d}.png")
    return root


def train_cli(cwd: Path, model: Path, data, *extra) -> subprocess.CompletedProcess:
    return ftui("train", "--headless", "--task", "image-classification", "--model", model, "--data", data,
                "--set", "train.threads=1", *extra, cwd=cwd)


def assert_one_line_error(result, *words) -> None:
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    err = result.stderr.strip()
    assert "Traceback" not in result.stderr and len(err.splitlines()) == 1, err
    for word in words:
        assert word in err, err


# ---- readers -------------------------------------------------------------------------------------

def test_folder_reader_one_class_per_subfolder(tmp_path):
    root = image_folder(tmp_path / "imgs", n_per_class=5)
    (root / "0" / "notes.txt").write_text("not an image")
    (root / ".cache").mkdir()
    data = load_image_data(DataSection(train=str(root), validation_fraction=0.2), seed=1)
    assert data.label_names == ["0", "1", "2"]
    assert len(data.train) == 12 and len(data.validation) == 3
    assert sorted(data.validation.labels) == ["0", "1", "2"]  # stratified: one of each
    assert all(p.endswith(".png") for p in data.train.images + data.validation.images)


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_table_reader_paths_relative_to_the_file(tmp_path, kind):
    image_folder(tmp_path / "pics", n_per_class=4)
    rows = [{"file": f"pics/{p.parent.name}/{p.name}", "digit": p.parent.name}
            for p in sorted((tmp_path / "pics").rglob("*.png"))]
    rows.append({"file": "", "digit": "1"})  # an empty path: dropped and counted
    path = tmp_path / f"list.{kind}"
    if kind == "csv":
        path.write_text("file,digit\n" + "".join(f"{r['file']},{r['digit']}\n" for r in rows))
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    section = DataSection(train=str(path), image_column="file", label_column="digit")
    data = load_image_data(section, seed=0)
    assert data.dropped_rows == 1 and data.label_names == ["0", "1", "2"]
    assert len(data.train) + len(data.validation) == 12
    assert all(Path(p).is_file() for p in data.train.images)


def test_demo_digits_is_sklearn_digits():
    data = load_image_data(DataSection(train="demo:digits"), seed=42)
    assert data.label_names == [str(d) for d in range(10)]
    assert len(data.train) + len(data.validation) == 1797 and len(data.validation) == 359
    image = data.train.images[0]
    assert image.shape == (8, 8) and image.dtype == np.uint8 and 200 < image.max() <= 255
    again = load_image_data(DataSection(train="demo:digits"), seed=42)
    assert [np.array_equal(a, b) for a, b in zip(data.validation.images, again.validation.images)] == [True] * 359


def write_idx(path: Path, array: np.ndarray) -> None:
    """MNIST's IDX format: 0 0 0x08 ndim, big-endian dims, uint8 data (gzip)."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_idx_reader_on_files_in_the_real_format(tmp_path):
    rng = np.random.default_rng(0)
    for part, n in (("train", 20), ("t10k", 10)):
        write_idx(tmp_path / f"{part}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(tmp_path / f"{part}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    train, validation = fashion_mnist(tmp_path)
    assert len(train) == 20 and len(validation) == 10
    assert train.labels[:3] == ["T-shirt/top", "Trouser", "Pullover"] and validation.labels[9] == "Ankle boot"
    assert train.images[0].shape == (28, 28)
    (tmp_path / "bad.gz").write_bytes(gzip.compress(b"\x01\x02\x08\x01" + bytes(8)))
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "bad.gz")
    (tmp_path / "short.gz").write_bytes(gzip.compress(bytes([0, 0, 8, 1]) + struct.pack(">I", 5) + bytes(3)))
    with pytest.raises(DataError, match="truncated"):
        read_idx(tmp_path / "short.gz")
    with pytest.raises(DataError, match="apt install dataset-fashion-mnist"):
        fashion_mnist(tmp_path / "nowhere")


@pytest.mark.skipif(not (FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz").is_file(),
                    reason="dataset-fashion-mnist is not installed")
def test_demo_fashion_mnist_uses_t10k_for_validation():
    data = load_image_data(DataSection(train="demo:fashion-mnist", max_train_rows=0, max_validation_rows=0), seed=0)
    assert len(data.train) == 60000 and len(data.validation) == 10000
    assert data.label_names == sorted(FASHION_MNIST_CLASSES) and "demo:fashion-mnist" in DEMOS


# ---- bad input through the real CLI ---------------------------------------------------------------

def test_bad_image_data_is_one_line_exit_2(tmp_path, tiny_resnet):
    broken = image_folder(tmp_path / "broken")
    (broken / "1" / "zz.png").write_bytes(b"this is not a png")
    assert_one_line_error(train_cli(tmp_path, tiny_resnet, broken), "zz.png: not a readable image")

    empty = image_folder(tmp_path / "empty")
    (empty / "7").mkdir()
    assert_one_line_error(train_cli(tmp_path, tiny_resnet, empty), "7", "holds no images")

    image_folder(tmp_path / "pics")
    table = tmp_path / "list.csv"
    table.write_text("path,label\npics/0/000.png,0\n")
    assert_one_line_error(train_cli(tmp_path, tiny_resnet, table), "no image column 'image'", "data.image_column")

    validation = tmp_path / "val.csv"
    validation.write_text("image,label\npics/0/000.png,9\n")
    assert_one_line_error(train_cli(tmp_path, tiny_resnet, image_folder(tmp_path / "ok"), "--validation", validation),
                          "validation labels not seen in training", "'9'")
    assert not (tmp_path / "runs").exists()  # all found before a run directory is made


def test_a_model_without_an_image_processor_is_one_line(tmp_path, tiny_resnet):
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(tiny_resnet, bare)
    (bare / "preprocessor_config.json").unlink()
    result = train_cli(tmp_path, bare, image_folder(tmp_path / "ok"))
    assert_one_line_error(result, "no image processor")


def test_mixed_sizes_and_modes_train(tmp_path, tiny_resnet):
    """Grey, RGBA, palette and RGB JPEG images of different sizes in one folder: all become RGB."""
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (tmp_path / "mixed" / label).mkdir(parents=True)
        for i, (mode, size) in enumerate([("L", (8, 8)), ("RGBA", (40, 25)), ("P", (17, 33)), ("RGB", (64, 48))] * 3):
            pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            image = Image.fromarray(pixels).convert(mode)
            image.save(tmp_path / "mixed" / label / f"{i}.{'jpg' if mode == 'RGB' else 'png'}")
    result = train_cli(tmp_path, tiny_resnet, tmp_path / "mixed", "--max-steps", "3", "--batch-size", "8",
                       "--set", "data.augment_flip=true")
    assert result.returncode == 0, result.stderr[-3000:]


def test_trainer_and_bundle_decode_images_alike(tmp_path):
    """The trainer's open_image and the bundle's load_image must give the same RGB pixels (EXIF too)."""
    from ftui.export.predictor_image import load_image
    from ftui.trainer.image_features import open_image

    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)
    rotated = Image.fromarray(pixels)
    exif = rotated.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees on display
    rotated.save(tmp_path / "rotated.jpg", exif=exif)
    Image.fromarray(pixels).convert("P").save(tmp_path / "palette.png", transparency=0)
    Image.fromarray(pixels).convert("LA").save(tmp_path / "grey-alpha.png")
    for name in ("rotated.jpg", "palette.png", "grey-alpha.png"):
        assert np.array_equal(np.asarray(open_image(str(tmp_path / name))), np.asarray(load_image(tmp_path / name)))
    assert load_image(tmp_path / "rotated.jpg").size == (12, 20)


# ---- preprocessing: numpy vs the HF processors ----------------------------------------------------

@pytest.mark.parametrize("processor", ["ConvNext", "ViT", "DeiT", "MobileNetV2"])
def test_numpy_preprocessing_equals_the_hf_processor(processor, tmp_path):
    import transformers

    from ftui.export.predictor_image import ImagePreprocessing

    kwargs = {"ConvNext": {"size": {"shortest_edge": 32}, "crop_pct": 0.875, "resample": 3},
              "ViT": {"size": {"height": 30, "width": 20}},
              "DeiT": {"size": {"height": 36, "width": 36}, "crop_size": {"height": 32, "width": 32}},
              "MobileNetV2": {"size": {"shortest_edge": 36}, "crop_size": {"height": 32, "width": 32}}}[processor]
    getattr(transformers, f"{processor}ImageProcessor")(**kwargs).save_pretrained(tmp_path)
    hf = transformers.AutoImageProcessor.from_pretrained(tmp_path, use_fast=False)
    ours = ImagePreprocessing.from_hf(json.loads((tmp_path / "preprocessor_config.json").read_text()))
    rng = np.random.default_rng(0)
    for h, w in ((8, 8), (3, 17), (50, 81), (97, 40)):
        image = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        expected = hf(images=image, return_tensors="np", input_data_format="channels_last")["pixel_values"]
        assert np.abs(expected - ours([image])).max() <= 1e-6, (h, w)


def test_image_size_overrides_the_processor(tiny_resnet):
    from transformers import MobileNetV2ImageProcessor

    from ftui.trainer.task_image import load_image_processor, output_size, set_image_size

    class Ref:
        name, source = "tiny", str(tiny_resnet)

    assert output_size(load_image_processor(Ref)) == (32, 32)
    assert output_size(load_image_processor(Ref, image_size=48)) == (48, 48)
    mobilenet = MobileNetV2ImageProcessor(size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224})
    set_image_size(mobilenet, 64)
    assert output_size(mobilenet) == (64, 64) and mobilenet.size == {"shortest_edge": 73}


# ---- end to end: train on digits, the cockpit, export, predict without torch -------------------------

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
    results = ImagePredictor(bundle, model="model.onnx").predict(images)
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


def torch_free_python(root: Path) -> Path:
    """A venv that sees only numpy, onnxruntime, Pillow (symlinked from this venv) and ftui's export/tui folders."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    deps = root / "deps"
    (deps / "ftui").mkdir(parents=True)
    site = Path(sysconfig.get_paths()["purelib"])
    for name in TORCH_FREE:
        if (site / name).exists():
            (deps / name).symlink_to(site / name)
    for sub in ("export", "tui"):
        (deps / "ftui" / sub).symlink_to(REPO / sub)
    python = venv / "bin" / "python"
    venv_site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip()
    Path(venv_site, "torch_free.pth").write_text(str(deps) + "\n")
    return python


def test_bundle_predicts_without_torch(exported, digits_run, tmp_path):
    from ftui.export.predictor_image import ImagePredictor

    python, bundle = torch_free_python(tmp_path), exported["bundle"]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    for module in ("torch", "transformers"):
        probe = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True, text=True, env=env)
        assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr, module
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
