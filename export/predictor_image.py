"""Label images with an ftui export bundle, using only onnxruntime, numpy and Pillow.

No torch, no transformers: this file is copied into every image bundle as `predict.py` (with
predictor.py beside it), so on an edge box `python predict.py cat.jpg` (inside the bundle folder) or

    from predict import ImagePredictor
    ImagePredictor("path/to/bundle").predict(["cat.jpg"])

is all it takes. `ftui predict` uses the same class. The preprocessing reproduces the HF image
processor the model was trained with (its parameters are in bundle.json "preprocessing");
`ftui export` checks it against that processor on the validation images.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

try:  # inside the ftui package
    from .image_decode import ImageModeError, decode
    from .predictor import PredictorError, cli_main, read_inputs, _first_line, model_file, open_session, read_manifest, softmax
except ImportError:  # standalone in a bundle folder, beside predictor.py and image_decode.py
    from image_decode import ImageModeError, decode
    from predictor import PredictorError, cli_main, read_inputs, _first_line, model_file, open_session, read_manifest, softmax

# HF image processors whose steps this module reproduces (the export's preprocessing gate proves it).
SUPPORTED = ("ConvNextImageProcessor", "ViTImageProcessor", "DeiTImageProcessor", "BitImageProcessor",
             "MobileNetV1ImageProcessor", "MobileNetV2ImageProcessor", "CLIPImageProcessor")


@dataclass(frozen=True)
class ImagePreprocessing:
    """resize -> (center crop) -> rescale -> normalize -> CHW float32, as the HF slow processors do it.

    resize: {"height", "width"} (exact) or {"shortest_edge"} (aspect kept); crop_pct (ConvNeXt style:
    resize the short side to shortest_edge / crop_pct, then crop shortest_edge square; from 384 on, an
    exact square resize) or crop {"height", "width"} (a center crop after the resize).
    """

    resize: dict
    resample: int = 2  # PIL: 0 nearest, 2 bilinear, 3 bicubic
    crop_pct: float | None = None
    crop: dict | None = None
    rescale: float | None = 1 / 255
    mean: list | None = None
    std: list | None = None

    @classmethod
    def from_hf(cls, config: dict) -> "ImagePreprocessing":
        """From preprocessor_config.json; an unsupported processor or option is a PredictorError."""
        kind = str(config.get("image_processor_type", "")).removesuffix("Fast")
        if kind not in SUPPORTED:
            raise PredictorError(f"image processor {kind or 'unknown'!r} is not supported by the bundle's "
                                 f"predictor (supported: {', '.join(SUPPORTED)})")
        for flag in ("do_pad", "rescale_offset", "do_flip_channel_order", "do_reduce_labels"):
            if config.get(flag):
                raise PredictorError(f"image processor option {flag} is not supported by the bundle's predictor")
        size = dict(config.get("size") or {})
        if not config.get("do_resize", True) or not ({"height", "width"} <= set(size) or "shortest_edge" in size):
            raise PredictorError(f"image processor size {size or None} is not supported "
                                 "(need height and width, or shortest_edge)")
        convnext = kind == "ConvNextImageProcessor"
        crop = config.get("crop_size") if config.get("do_center_crop") and not convnext else None
        if isinstance(crop, int):
            crop = {"height": crop, "width": crop}
        normalize = config.get("do_normalize", True)
        return cls(
            resize={"shortest_edge": size["shortest_edge"]} if "shortest_edge" in size
            else {"height": size["height"], "width": size["width"]},
            resample=int(config.get("resample", 2)),
            crop_pct=float(config.get("crop_pct") or 224 / 256) if convnext else None,
            crop=crop,
            rescale=float(config.get("rescale_factor", 1 / 255)) if config.get("do_rescale", True) else None,
            mean=[float(v) for v in config.get("image_mean", [0.5] * 3)] if normalize else None,
            std=[float(v) for v in config.get("image_std", [0.5] * 3)] if normalize else None,
        )

    @classmethod
    def from_manifest(cls, keys: dict) -> "ImagePreprocessing":
        try:
            return cls(**keys)
        except TypeError as e:
            raise PredictorError(f"bundle.json preprocessing is not understood ({e})") from None

    def to_manifest(self) -> dict:
        return asdict(self)

    def geometry(self, image: Image.Image) -> np.ndarray:
        """The resized (and cropped) image, uint8 (H, W, 3): PIL does the resampling, as in HF."""
        size = self.resize
        if self.crop_pct is not None and size["shortest_edge"] < 384:
            edge = size["shortest_edge"]
            pixels = _resize(image, _short_side(image, int(edge / self.crop_pct)), self.resample)
            return center_crop(pixels, edge, edge)
        if self.crop_pct is not None:
            target = (size["shortest_edge"], size["shortest_edge"])
        elif "shortest_edge" in size:
            target = _short_side(image, size["shortest_edge"])
        else:
            target = (size["height"], size["width"])
        pixels = _resize(image, target, self.resample)
        return center_crop(pixels, self.crop["height"], self.crop["width"]) if self.crop else pixels

    def finish(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, 3) -> float32 (N, 3, H, W): rescale in float64 then float32, normalize in float32."""
        x = pixels.astype(np.float64) * self.rescale if self.rescale is not None else pixels
        x = x.astype(np.float32)
        if self.mean is not None:
            x = (x - np.array(self.mean, np.float32)) / np.array(self.std, np.float32)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)

    def __call__(self, images: list[Image.Image]) -> np.ndarray:
        return self.finish(np.stack([self.geometry(im) for im in images]))

    def output_size(self) -> tuple[int, int]:
        if self.crop:
            return self.crop["height"], self.crop["width"]
        if "shortest_edge" in self.resize:
            return self.resize["shortest_edge"], self.resize["shortest_edge"]
        return self.resize["height"], self.resize["width"]


def _short_side(image: Image.Image, short: int) -> tuple[int, int]:
    """(height, width) with the short side = `short`, the long side scaled and truncated (HF's rule)."""
    w, h = image.size
    if w <= h:
        return int(short * h / w), short
    return short, int(short * w / h)


def _resize(image: Image.Image, hw: tuple[int, int], resample: int) -> np.ndarray:
    return np.asarray(image.resize((hw[1], hw[0]), resample=Image.Resampling(resample), reducing_gap=None))


def center_crop(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """The central height x width of (H, W, C); zero-padded around when the image is smaller (as HF does)."""
    h, w = pixels.shape[:2]
    if height > h or width > w:
        nh, nw = max(height, h), max(width, w)
        padded = np.zeros((nh, nw) + pixels.shape[2:], pixels.dtype)
        top, left = -(-(nh - h) // 2), -(-(nw - w) // 2)
        padded[top:top + h, left:left + w] = pixels
        pixels, h, w = padded, nh, nw
    top, left = (h - height) // 2, (w - width) // 2
    return pixels[top:top + height, left:left + width]


def load_image(path) -> Image.Image:
    """An RGB image, decoded as training decoded it (image_decode.py: EXIF orientation, 16-bit scaled to
    8, grey replicated, alpha dropped); a missing, undecodable or refused file is a one-line PredictorError."""
    path = Path(path)
    if not path.is_file():
        raise PredictorError(f"{path}: no such image file")
    try:
        return decode(path)
    except ImageModeError as e:
        raise PredictorError(f"{path}: {e}") from None
    except Exception as e:  # PIL raises UnidentifiedImageError, OSError, SyntaxError, ... for bad files
        raise PredictorError(f"{path}: not a readable image ({_first_line(e)})") from None


class ImagePredictor:
    """One ONNX model of an image bundle, its preprocessing and labels."""

    def __init__(self, bundle: str | Path, model: str | None = None, threads: int | None = None):
        self.bundle = Path(bundle)
        manifest = read_manifest(self.bundle, "preprocessing")
        self.labels: list[str] = manifest["labels"]
        self.preprocessing = ImagePreprocessing.from_manifest(manifest["preprocessing"])
        self.model_path = model_file(self.bundle, manifest, model)
        self.session = open_session(self.model_path, threads)
        self.input_name = self.session.get_inputs()[0].name

    def logits(self, paths: list, batch_size: int = 32) -> np.ndarray:
        """Raw logits, (len(paths), n_labels); images are decoded one batch at a time."""
        out = []
        for i in range(0, len(paths), batch_size):
            pixels = self.preprocessing([load_image(p) for p in paths[i:i + batch_size]])
            out.append(self.session.run(None, {self.input_name: pixels})[0])
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)), np.float32)

    def predict(self, paths: list, batch_size: int = 32) -> list[dict]:
        """For each image: its label, that label's probability, and every label's probability."""
        probs = softmax(self.logits(list(paths), batch_size))
        return [{"image": str(p), "label": self.labels[int(q.argmax())], "score": float(q.max()),
                 "scores": {name: float(v) for name, v in zip(self.labels, q)}} for p, q in zip(paths, probs)]


def read_paths(paths: list[str], file: str | None) -> list[str]:
    """Image paths from the command line, or one a line from `file` ('-' = stdin; blank lines skipped)."""
    return read_inputs(paths, file, "no images: give image paths as arguments or --file FILE", strip=True)


def format_result(result: dict, as_json: bool) -> str:
    """One output line: `label<TAB>score<TAB>path`, or a JSON object with all scores."""
    if as_json:
        return json.dumps(result, ensure_ascii=False)
    return f"{result['label']}\t{result['score']:.3f}\t{result['image']}"


def run_cli(bundle: str, inputs: list[str], file: str | None, as_json: bool) -> int:
    """`ftui predict` for an image-classification bundle: one line per image."""
    inputs = read_paths(inputs, file)  # bad input before the model loads
    for result in ImagePredictor(bundle).predict(inputs):
        print(format_result(result, as_json))
    return 0


def main(argv: list[str] | None = None, default_bundle: Path | None = None) -> int:
    return cli_main(argv, default_bundle, ImagePredictor, read_paths, format_result,
                    "Label images with an ftui ONNX bundle (onnxruntime only).", "images")


if __name__ == "__main__":
    sys.exit(main(default_bundle=Path(__file__).resolve().parent))
