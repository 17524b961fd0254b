"""Every kind of image file a user has: 16-bit, float, grey, alpha, palette, tiny and extreme shapes.

The trainer (ftui.trainer.data.image_features.open_image) and the bundle (predict.py's load_image)
decode through one module, ftui.export.image_decode; these tests pin its documented conversions
and that both sides give the same pixels, and that what it refuses is one line on both sides.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from image_fixtures import assert_one_line_error, digit_images, tiny_resnet, train_cli  # noqa: F401
from PIL import Image

from ftui.export.image_decode import MAX_ASPECT, ImageModeError, decode, to_rgb
from ftui.export.predictor import PredictorError
from ftui.export.predictor_image import load_image
from ftui.trainer.data.image_features import open_image


def sixteen_bit_png(path, values: np.ndarray):
    Image.fromarray(values.astype(np.uint16)).save(path)
    return path


def digits_folder(folder):
    """Eight real digits in two class folders, all fine: the bad image is added beside them."""
    for i, (pixels, label) in enumerate(digit_images(4, range(2))):
        (folder / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / label / f"{i}.png")
    return folder


def test_a_16_bit_image_is_scaled_not_clipped_to_white(tmp_path):
    """Pillow's convert("RGB") clips 16-bit values at 255, so this ramp became 99.6% white."""
    ramp = (np.arange(64 * 64, dtype=np.int64).reshape(64, 64) * 16).astype(np.uint16)  # 0 .. 65520
    path = sixteen_bit_png(tmp_path / "ramp16.png", ramp)
    assert Image.open(path).mode.startswith("I")
    assert (np.asarray(Image.open(path).convert("RGB")) == 255).mean() > 0.99  # the bug this module fixes
    pixels = np.asarray(load_image(path))
    assert pixels.shape == (64, 64, 3) and pixels.dtype == np.uint8
    assert np.array_equal(pixels[..., 0], np.round(ramp / 257).astype(np.uint8))
    assert np.array_equal(pixels[..., 0], pixels[..., 2])  # grey replicated
    assert np.array_equal(np.asarray(open_image(str(path))), pixels)


@settings(max_examples=60, deadline=None)
@given(arrays(np.uint16, st.tuples(st.integers(1, 12), st.integers(1, 12))))
def test_16_bit_scaling_is_round_v_over_257(values):
    out = np.asarray(to_rgb(Image.fromarray(values)))
    assert np.array_equal(out[..., 1], np.round(values.astype(np.float64) / 257).astype(np.uint8))


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "1", "CMYK", "I;16"])
@pytest.mark.parametrize("size", [(1, 1), (1, 40), (37, 5), (64, 48)])
def test_trainer_and_bundle_decode_every_mode_and_shape_alike(tmp_path, mode, size):
    rng = np.random.default_rng(sum(size))
    rgb = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65536, (size[1], size[0]), dtype=np.uint16))
    else:
        image = rgb.convert(mode)
    path = tmp_path / f"x.{'jpg' if mode == 'CMYK' else 'png'}"
    image.save(path)
    ours = np.asarray(load_image(path))
    assert ours.shape == (size[1], size[0], 3) and ours.dtype == np.uint8
    assert np.array_equal(np.asarray(open_image(str(path))), ours)


def test_a_float_image_is_refused_in_one_line_on_both_sides(tmp_path, tiny_resnet):
    path = tmp_path / "float.tiff"
    Image.fromarray(np.full((16, 16), 0.5, np.float32)).save(path)
    with pytest.raises(PredictorError, match="floating-point") as e:
        load_image(path)
    assert len(str(e.value).splitlines()) == 1
    folder = digits_folder(tmp_path / "data")
    (folder / "0" / "float.tiff").write_bytes(path.read_bytes())
    assert_one_line_error(train_cli(tmp_path, tiny_resnet, folder), "float.tiff", "floating-point")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_an_extreme_aspect_ratio_is_refused_before_training(tmp_path, tiny_resnet):
    strip = tmp_path / "strip.png"
    Image.fromarray(np.zeros((1, MAX_ASPECT + 1, 3), np.uint8)).save(strip)
    with pytest.raises(ImageModeError, match="long side"):
        decode(strip)
    with pytest.raises(PredictorError, match="long side"):
        load_image(strip)
    assert decode(np.zeros((1, MAX_ASPECT, 3), np.uint8)).size == (MAX_ASPECT, 1)  # at the limit: kept
    folder = digits_folder(tmp_path / "data")
    (folder / "1" / "strip.png").write_bytes(strip.read_bytes())
    assert_one_line_error(train_cli(tmp_path, tiny_resnet, folder), "strip.png", "long side")


def test_16_bit_grey_images_train(tmp_path, tiny_resnet):
    """A folder of 16-bit PNGs (medical and scientific images often are) trains end to end."""
    folder = tmp_path / "data16"
    for i, (pixels, label) in enumerate(digit_images(6, range(2))):
        (folder / label).mkdir(parents=True, exist_ok=True)
        grey = pixels.astype(np.float64).mean(axis=-1) if pixels.ndim == 3 else pixels.astype(np.float64)
        sixteen_bit_png(folder / label / f"{i}.png", grey / max(grey.max(), 1) * 65535)
    result = train_cli(tmp_path, tiny_resnet, folder, "--max-steps", "2", "--batch-size", "4")
    assert result.returncode == 0, result.stderr[-3000:]
