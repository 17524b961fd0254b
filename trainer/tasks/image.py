"""Image classification: one label per image (ResNet, ConvNeXt, ViT, MobileNet, ...).

The model's own HF image processor (preprocessor_config.json) preprocesses every image; it is
saved into every checkpoint, so `ftui export` validates the bundle's numpy copy of it against it.
"""

from __future__ import annotations

import json
import shutil

from ..errors import RecipeError

# Models whose position embeddings fix the input side: data.image_size must equal config.image_size.
FIXED_SIZE_MODELS = ("vit", "deit", "beit", "dinov2")


def write_validation(data, run) -> None:
    """The validation images as files under run/data/validation/ (arrays as PNG, files copied byte for
    byte) and run/data/validation.jsonl lines {"image": "validation/000001.png", "label": name}."""
    write_images(data.validation, run.validation_data, "validation")


def write_calibration(data, run, seed: int) -> None:
    """A seeded, class-stratified sample of the training images, as run/data/calibration/ and calibration.jsonl."""
    from ..data.text import calibration_sample

    write_images(calibration_sample(data.train, seed), run.calibration_data, "calibration")


def write_images(dataset, jsonl, name: str) -> None:
    from PIL import Image

    folder = jsonl.parent / name
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for n, (source, label) in enumerate(zip(dataset.images, dataset.labels), 1):
        if isinstance(source, str):
            file = f"{n:06d}{_suffix(source)}"
            shutil.copyfile(source, folder / file)
        else:
            file = f"{n:06d}.png"
            Image.fromarray(source).save(folder / file)
        lines.append(json.dumps({"image": f"{name}/{file}", "label": label}, ensure_ascii=False))
    jsonl.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _suffix(path: str) -> str:
    from pathlib import Path

    return Path(path).suffix.lower() or ".img"


def check_model(model_ref, recipe) -> None:
    """Before a run dir exists: the model's image processor loads (preprocessor_config.json)."""
    load_image_processor(model_ref, recipe.model.trust_remote_code, recipe.data.image_size)


def build(model_ref, recipe, data):
    from ftui.models.loading import fix_batchnorm_momentum

    from ..data.features import classification_metrics
    from ..data.image_features import Augment, ImageClassificationDataset, collate
    from ..tasks import TaskParts, load_model

    d = recipe.data
    processor = load_image_processor(model_ref, recipe.model.trust_remote_code, d.image_size)
    model = load_model(model_ref, recipe, data.label_names)
    fix_batchnorm_momentum(model)
    side = output_size(processor)
    _check_size(model.config, side, d.image_size)
    augment = Augment(flip=d.augment_flip) if d.augment else None
    return TaskParts(
        model=model,
        train_set=ImageClassificationDataset(data.train, processor, data.label_names, augment),
        val_set=ImageClassificationDataset(data.validation, processor, data.label_names),
        collator=collate, processing_class=processor,
        compute_metrics=lambda p: classification_metrics(p.predictions, p.label_ids),
        tokens_per_sample=None, group_by_length=False,
        info={"image_size": f"{side[0]}x{side[1]}", "image_processor": type(processor).__name__,
              "augment": ("crop+flip" if d.augment_flip else "crop") if d.augment else "off"},
    )


def load_image_processor(model_ref, trust_remote_code: bool = False, image_size: int = 0):
    """The model's slow (PIL + numpy) image processor, resized to ``image_size`` when it is > 0.

    Slow on purpose: the fast processors resize with torch (torchvision), which the bundle's
    torch-free numpy predictor could not reproduce pixel for pixel.
    """
    from transformers import AutoImageProcessor

    from ftui.models.errors import ModelError, first_line

    try:
        processor = AutoImageProcessor.from_pretrained(model_ref.source, use_fast=False,
                                                       trust_remote_code=trust_remote_code)
    except Exception as e:  # OSError/ValueError/KeyError for a folder without preprocessor_config.json
        raise ModelError(f"model {model_ref.name!r}: no image processor, preprocessor_config.json "
                         f"({first_line(e)})") from None
    if image_size:
        set_image_size(processor, image_size)
    return processor


def set_image_size(processor, side: int) -> None:
    """Makes the processor's output ``side`` x ``side``, keeping its resize-then-crop proportions."""
    size = dict(processor.size)
    crop = getattr(processor, "crop_size", None) if getattr(processor, "do_center_crop", False) else None
    if crop:  # resize to a bit more than the crop, as the processor was set up (e.g. 256 -> 224)
        ratio = _side(size) / _side(crop) if _side(size) and _side(crop) else 1.0
        processor.crop_size = {"height": side, "width": side}
        side_before_crop = round(side * ratio)
    else:
        side_before_crop = side
    if "shortest_edge" in size:
        processor.size = {"shortest_edge": side_before_crop}
    else:
        processor.size = {"height": side_before_crop, "width": side_before_crop}


def _side(size: dict) -> int:
    return int(size.get("shortest_edge") or size.get("height") or 0)


def output_size(processor) -> tuple[int, int]:
    """(height, width) of the pixel_values the processor makes (measured on a 64x48 image)."""
    from PIL import Image

    from ..data.image_features import pixel_values

    return tuple(pixel_values(processor, Image.new("RGB", (64, 48))).shape[1:])


def _check_size(config, side: tuple[int, int], requested: int) -> None:
    """Models with position embeddings (ViT, ...) take one input side only: say so before training."""
    native = getattr(config, "image_size", None)
    if config.model_type in FIXED_SIZE_MODELS and isinstance(native, int) and side != (native, native):
        fix = "leave data.image_size = 0" if requested else f"set data.image_size = {native}"
        raise RecipeError(f"{config.model_type} takes {native}x{native} images but the image processor makes "
                          f"{side[0]}x{side[1]}: {fix}")
