"""One image file (or array) to the RGB picture the model sees: the trainer and every bundle use this.

numpy and Pillow only: it is copied into every image bundle beside predict.py, and the trainer
imports it as ``ftui.export.image_decode``, so training and the exported model decode pixels alike.

Conversions, documented in the README (Images):
- EXIF orientation is applied first (a phone photo is seen upright).
- 8-bit modes go through Pillow's ``convert("RGB")``, as transformers' ``convert_to_rgb`` does:
  grey is replicated to three channels, alpha is dropped (not composited), palettes are expanded.
- 16-bit images (modes ``I;16*`` and ``I``: 16-bit PNG and TIFF) are scaled linearly from the full
  16-bit range to 8 bits (``round(v / 257)``, values outside 0..65535 clipped). Pillow's own
  ``convert("RGB")`` clips them instead, which turns a typical 16-bit photo almost entirely white.
- 32-bit float images (mode ``F``) have no range to scale from: refused, one line.
- An image whose long side is more than MAX_ASPECT times its short side is refused: resizing its
  short side to the processor's size (224 to 256 px) would make the long side tens of thousands of
  pixels. Small images are upscaled by the processor's resize, as in HF; none is too small.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
MAX_ASPECT = 50


class ImageModeError(ValueError):
    """An image ftui cannot turn into RGB without guessing; the message is one line for the user."""


def check_mode_and_shape(image: Image.Image) -> None:
    """Raises ImageModeError for a float image or an extreme aspect ratio (works on a header-only image)."""
    if image.mode == "F":
        raise ImageModeError("a 32-bit floating-point image has no fixed range to scale to 8 bits; "
                             "save it as 8- or 16-bit PNG/TIFF")
    w, h = image.size
    if min(w, h) < 1 or max(w, h) > MAX_ASPECT * min(w, h):
        raise ImageModeError(f"{w}x{h} pixels: the long side is more than {MAX_ASPECT} times the short one; "
                             "crop or pad it first")


def to_rgb(image: Image.Image) -> Image.Image:
    """The RGB image the processor gets (see the module docstring for each conversion)."""
    check_mode_and_shape(image)
    if image.mode in SIXTEEN_BIT_MODES:
        values = np.clip(np.asarray(image, dtype=np.int64), 0, 65535)
        image = Image.fromarray(((values + 128) // 257).astype(np.uint8), mode="L")
    return image if image.mode == "RGB" else image.convert("RGB")


def decode(source) -> Image.Image:
    """An RGB PIL image from a path or an array (uint8 or uint16, grey or RGB)."""
    if isinstance(source, np.ndarray):
        return to_rgb(Image.fromarray(source))
    with Image.open(source) as image:
        return to_rgb(ImageOps.exif_transpose(image))
