"""Shared by the image tests: a tiny random ResNet with resnet-50's kind of image processor, real
digits as images and folders, the image `ftui train` command, and the one-line-error check."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import ftui
from PIL import Image


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
    from ftui.trainer.data.image import digits

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
