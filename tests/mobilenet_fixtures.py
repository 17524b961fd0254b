"""Shared by the MobileNetV2 tests: the preset ported once into a temporary HF_HOME, and a real photo."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def mobilenet_home(tmp_path_factory):
    """An HF_HOME (environment and huggingface_hub's constant) holding the ported preset; yields its folder."""
    from huggingface_hub import constants

    from ftui.models.mobilenet import ensure_ported

    home = tmp_path_factory.mktemp("hf-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HOME", str(home))
        mp.setattr(constants, "HF_HOME", str(home))
        yield ensure_ported()


def sklearn_photo(name: str = "china.jpg") -> Path:
    """A real photo that ships with scikit-learn (china.jpg: a Chinese palace; flower.jpg: a flower)."""
    spec = importlib.util.find_spec("sklearn")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "images" / name


def top1(model, processor, image) -> tuple[str, float]:
    import torch
    from PIL import Image

    pixels = processor(images=Image.open(image).convert("RGB"), return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        probs = model.eval()(pixel_values=pixels).logits.softmax(-1)[0]
    return model.config.id2label[int(probs.argmax())], float(probs.max())
