"""Image classification data: readers, bad input through the real CLI, mixed images, and the bundle's
numpy preprocessing against the HF processors (end to end: test_image_end_to_end.py).

The model is a tiny randomly initialised ResNet (no pretrained vision weights exist offline) with a
ConvNeXt-style image processor (shortest edge 32, crop_pct 0.875), as microsoft/resnet-50 ships.
"""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from image_fixtures import assert_one_line_error, image_folder, tiny_resnet, train_cli  # noqa: F401
from PIL import Image

from ftui.trainer.errors import DataError
from ftui.trainer.data.image import (DEMOS, FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, fashion_mnist,
                                     load_image_data, read_idx)
from ftui.trainer.recipe import DataSection


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
    from ftui.trainer.data.image_features import open_image

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

    from ftui.trainer.tasks.image import load_image_processor, output_size, set_image_size

    class Ref:
        name, source = "tiny", str(tiny_resnet)

    assert output_size(load_image_processor(Ref)) == (32, 32)
    assert output_size(load_image_processor(Ref, image_size=48)) == (48, 48)
    mobilenet = MobileNetV2ImageProcessor(size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224})
    set_image_size(mobilenet, 64)
    assert output_size(mobilenet) == (64, 64) and mobilenet.size == {"shortest_edge": 73}
