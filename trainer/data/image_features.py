"""Images to ``pixel_values`` for the Trainer: decoded lazily per item, light augmentation when training.

Fashion-MNIST has 60k images: nothing is decoded or resized up front; ``__getitem__`` opens one
image, (training only) crops and flips it at random, and runs the checkpoint's own HF image
processor on it, so evaluation sees exactly the processor's deterministic preprocessing, which is
what the exported bundle reproduces in numpy.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image

from ftui.export.image_decode import decode

from .image import ImageDataset

# Random resized crop: the kept area's share and the crop's aspect-ratio range (torchvision's
# RandomResizedCrop defaults, with a milder scale: fine-tuning images are usually already framed).
CROP_SCALE = (0.8, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)


def open_image(source) -> Image.Image:
    """An RGB PIL image from a path or an array, by the decoder every image bundle carries
    (ftui.export.image_decode: EXIF orientation, 16-bit scaled to 8, grey replicated, alpha dropped),
    so training and the exported model see the same pixels."""
    return decode(source)


class Augment:
    """Random resized crop (scale 0.8..1 of the area) and, if asked, a left-right flip, drawn from torch's
    RNG so HF Trainer's seed (and its saved RNG state on resume) governs them."""

    def __init__(self, flip: bool):
        self.flip = flip

    def __call__(self, image: Image.Image) -> Image.Image:
        w, h = image.size
        for _ in range(10):
            area = w * h * _uniform(*CROP_SCALE)
            ratio = math.exp(_uniform(math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1])))
            cw, ch = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
            if 0 < cw <= w and 0 < ch <= h:
                left, top = int(torch.randint(0, w - cw + 1, ())), int(torch.randint(0, h - ch + 1, ()))
                image = image.crop((left, top, left + cw, top + ch))
                break
        if self.flip and _uniform(0, 1) < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return image


def _uniform(low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand(()))


class ImageClassificationDataset(torch.utils.data.Dataset):
    """(pixel_values, label id) per item, preprocessed on demand by the HF image processor."""

    def __init__(self, data: ImageDataset, processor, label_names: list[str], augment: Augment | None = None):
        self.images = data.images
        index = {name: i for i, name in enumerate(label_names)}
        self.labels = [index[label] for label in data.labels]
        self.processor = processor
        self.augment = augment

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        image = open_image(self.images[i])
        if self.augment is not None:
            image = self.augment(image)
        return {"pixel_values": pixel_values(self.processor, image), "labels": self.labels[i]}


def pixel_values(processor, image: Image.Image) -> torch.Tensor:
    """The processor's (3, H, W) float tensor for one RGB image (channels-last input said explicitly,
    so a 3-pixel-high image is not mistaken for channels-first)."""
    out = processor(images=image, return_tensors="np", input_data_format="channels_last")["pixel_values"][0]
    return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))


def collate(features: list[dict]) -> dict:
    """Stacks pixel_values (every image has the processor's fixed size) and label ids."""
    return {"pixel_values": torch.stack([f["pixel_values"] for f in features]),
            "labels": torch.tensor([f["labels"] for f in features], dtype=torch.long)}
