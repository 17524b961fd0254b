"""Exporting image classification: images in, one label per image out.

The validation images (run/data/validation.jsonl, or --data: a .jsonl/.csv with image and label,
or a folder with one sub-folder per class) are preprocessed by the bundle's own numpy code
(predictor_image.py); PyTorch and onnxruntime get the same float32 batches. A preprocessing gate
checks that code against the checkpoint's HF image processor, image by image.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ftui.rundir.images import IMAGE_SUFFIXES

from .data import label_ids, read_labelled
from .errors import ExportError
from .gates import Gate
from .predictor import PredictorError
from .predictor_image import ImagePreprocessing, load_image
from .tasks import Examples, ExportTask, Split

BATCH_SIZE = 32
CHECK_BATCH = 3           # the export traces batch 2: the shape check runs a batch it never saw
PIXEL_ATOL = 1e-5         # numpy vs HF processor, per pixel value (after normalization)
PROCESSOR_FILE = "preprocessor_config.json"


class ImageClassification(ExportTask):
    # Exported and validated by tests/test_image.py (resnet) and benchmarks/task_image.py --check-archs.
    model_types = ("resnet", "convnext", "vit", "deit", "mobilenet_v2", "swin")
    support_modules = ("predictor.py", "image_decode.py")

    def check_checkpoint(self, checkpoint: Path, config: dict) -> None:
        self.pre = read_preprocessing(checkpoint)

    def load_pytorch(self, checkpoint: Path):
        import logging

        # optimum's exporter reloads the image processor without use_fast, and transformers then warns
        # that slow and fast processors differ: not this export's concern (the bundle ships the file itself).
        logging.getLogger("transformers.models.auto.image_processing_auto").setLevel(logging.ERROR)
        model = super().load_pytorch(checkpoint)
        # optimum traces a dummy image of config.image_size (MobileNetV2: 224) and some exporters fix
        # that side in the graph: trace the side the checkpoint's processor makes (data.image_size).
        height, width = self.pre.output_size()
        if height == width and isinstance(getattr(model.config, "image_size", None), int):
            model.config.image_size = height
        return model

    def load_examples(self, path: Path, labels: list[str]) -> Examples:
        paths, names = read_examples(Path(path))
        return Examples(paths, np.array(label_ids(names, labels)), Path(path))

    def pixels(self, source, examples: Examples) -> np.ndarray:
        """The validation images resized and cropped, uint8 (N, H, W, 3): decoded once, normalized per batch."""
        if "pixels" not in examples.extra:
            from ftui.rundir.reference_logits import image_example

            pixels, digests = [], []
            try:
                for path in examples.inputs:
                    rgb = load_image(path)
                    decoded = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
                    digests.append(image_example(decoded.shape, decoded.tobytes()))  # to match saved logits
                    pixels.append(self.pre.geometry(rgb))
            except PredictorError as e:
                raise ExportError(f"{examples.path}: {e}") from None
            examples.extra["pixels"], examples.extra["rgb_digests"] = np.stack(pixels), digests
        return examples.extra["pixels"]

    def inputs_digest(self, source, examples: Examples, split: Split) -> str | None:
        """The decoded images (the file's order) and the image processor's configuration; what turns them
        into pixel values is proven by the preprocessing gate (the bundle's numpy vs the HF processor)."""
        from ftui.rundir.reference_logits import image_inputs_digest

        self.pixels(source, examples)
        return image_inputs_digest(examples.extra["rgb_digests"], (source.checkpoint / PROCESSOR_FILE).read_bytes())

    def split(self, source, examples: Examples, input_names: list[str]) -> Split:
        name = "pixel_values" if "pixel_values" in input_names else input_names[0]
        batches = NormalizedBatches(self.pixels(source, examples), self.pre, name)
        return Split(batches, np.concatenate)

    def compare(self, logits, reference, examples: Examples) -> dict:
        from .metrics import compare

        return compare(logits, reference, examples.truth)

    def task_metrics(self, logits, examples: Examples) -> dict:
        from .metrics import task_metrics

        return task_metrics(logits, examples.truth)

    def preprocessing_check(self, source, examples: Examples):
        check = check_pixels(source.checkpoint, self.pre, self.pixels(source, examples), examples.inputs)
        return check, pixel_gate(check)

    def shape_check(self, session, source, examples: Examples, static_axes: list[str]) -> dict:
        pixels = self.pixels(source, examples)
        batch = self.pre.finish(pixels[np.arange(CHECK_BATCH) % len(pixels)])
        shape = list(session.run(None, {session.get_inputs()[0].name: batch})[0].shape)
        # Only the batch axis must be free: channels and side are fixed by the image processor.
        static = [a for a in static_axes if a.endswith("[0]")]
        h, w = pixels.shape[1:3]
        return {"input": f"batch {CHECK_BATCH} x {h}x{w} image", "output_shape": shape, "static_axes": static,
                "ok": shape == [CHECK_BATCH, len(source.labels)] and not static}

    def benchmark_inputs(self, source, bundle: Path, examples: Examples, input_names: list[str], batches):
        pixels = self.pixels(source, examples)
        inputs = {b: {input_names[0]: self.pre.finish(pixels[np.arange(b) % len(pixels)])} for b in batches}
        return inputs, {"image": f"{pixels.shape[1]}x{pixels.shape[2]}"}

    def manifest(self, source, bundle: Path) -> dict:
        """The predictor's preprocessing parameters, from the checkpoint's preprocessor_config.json (which the
        bundle ships byte for byte)."""
        return {"preprocessing": self.pre.to_manifest(), "image_size": list(self.pre.output_size())}

    def readme_usage(self, report) -> str:
        return IMAGE_USAGE.format(default_model=report.default_model, default_file=Path(report.default_model).name,
                                 size="x".join(map(str, self.pre.output_size())))


def read_preprocessing(folder: Path) -> ImagePreprocessing:
    """The predictor's preprocessing from ``folder``'s preprocessor_config.json; refuses what it cannot reproduce."""
    try:
        hf = json.loads((folder / PROCESSOR_FILE).read_text())
    except FileNotFoundError:
        raise ExportError(f"{folder}: no {PROCESSOR_FILE} (the image processor is needed for the bundle)") from None
    except (OSError, ValueError) as e:
        raise ExportError(f"{folder / PROCESSOR_FILE}: unreadable ({e})") from None
    try:
        return ImagePreprocessing.from_hf(hf)
    except PredictorError as e:
        raise ExportError(f"{folder}: {e}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as e:  # a key of the wrong type or shape
        raise ExportError(f"{folder / PROCESSOR_FILE}: not understood ({type(e).__name__}: {e})") from None


class NormalizedBatches(Sequence):
    """Batches of model inputs made on demand from the cached uint8 pixels: N x 3 x 224 x 224 float32
    for 1,000 images would be 600 MB; uint8 HWC is a quarter of that, and normalizing is cheap."""

    def __init__(self, pixels: np.ndarray, pre: ImagePreprocessing, name: str):
        self.pixels, self.pre, self.name = pixels, pre, name

    def __len__(self) -> int:
        return -(-len(self.pixels) // BATCH_SIZE)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        if not 0 <= i < len(self):
            raise IndexError(i)
        return {self.name: self.pre.finish(self.pixels[i * BATCH_SIZE:(i + 1) * BATCH_SIZE])}


def read_examples(path: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """(image paths, (where, label) per image) from a .jsonl/.csv with image and label (paths relative to the
    file), or a folder with one sub-folder per class."""
    if path.is_dir():
        return _read_folder(path)
    if not path.is_file():
        raise ExportError(f"{path}: no such validation file or folder")
    images, labels = read_labelled(path, "image", "an image")
    paths = []
    for image, (where, _) in zip(images, labels):
        file = path.parent / image.strip()
        if not _is_file(file):
            raise ExportError(f"{where}: no such image file {str(file)!r}")
        paths.append(str(file))
    return paths, labels


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long for the file system is no file either
        return False


def _read_folder(root: Path) -> tuple[list[str], list[tuple[str, str]]]:
    paths, labels = [], []
    for folder in sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")):
        files = sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        paths += files
        labels += [(str(folder), folder.name)] * len(files)
    if not paths:
        raise ExportError(f"{root}: no images in class sub-folders ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return paths, labels


def check_pixels(checkpoint: Path, pre: ImagePreprocessing, pixels: np.ndarray, paths: list[str]) -> dict:
    """max |Δ| between the bundle's numpy preprocessing and the checkpoint's HF image processor (what
    training used), over every validation image."""
    from transformers import AutoImageProcessor

    hf = AutoImageProcessor.from_pretrained(checkpoint, use_fast=False)
    worst, bad = 0.0, []
    for i, path in enumerate(paths):
        expected = hf(images=load_image(path), return_tensors="np", input_data_format="channels_last")["pixel_values"]
        got = pre.finish(pixels[i:i + 1])
        diff = float(np.abs(expected.astype(np.float64) - got).max()) if expected.shape == got.shape else float("inf")
        worst = max(worst, diff)
        if diff > PIXEL_ATOL:
            bad.append(path)
    return {"images": len(paths), "max_abs_diff": worst, "mismatches": len(bad),
            "first_mismatch": bad[0] if bad else None, "processor": type(hf).__name__}


def pixel_gate(check: dict) -> Gate:
    """The bundle's numpy preprocessing must give the pixel values training used (the HF image processor)."""
    same = check["images"] - check["mismatches"]
    detail = (f"{same}/{check['images']} images preprocessed as {check['processor']} does "
              f"(max |Δpixel| {check['max_abs_diff']:.1e} <= {PIXEL_ATOL:.0e})")
    if check["mismatches"]:
        detail = detail.replace("<=", ">") + f"; first difference: {check['first_mismatch']}"
    return Gate("preprocessing", not check["mismatches"], detail)


IMAGE_USAGE = """## Run it (needs only `pip install onnxruntime numpy pillow`)

    python predict.py cat.jpg dog.png             # inside this folder
    python predict.py --file images.txt --json    # one image path a line; JSON with every label's score
    python predict.py --model fp32 cat.jpg       # another variant (fp32, O2, int8) or ONNX file

From Python:

    from predict import ImagePredictor
    ImagePredictor("path/to/bundle").predict(["cat.jpg"])   # [{{"image", "label", "score", "scores"}}]

With ftui installed: `ftui predict path/to/bundle cat.jpg`.

With optimum: `ORTModelForImageClassification.from_pretrained("path/to/bundle", file_name="{default_file}")`
(optimum finds a file by its name in the bundle's folders)
and `AutoImageProcessor.from_pretrained("path/to/bundle")`.

Images are turned to RGB (EXIF orientation applied), resized and cropped to {size} and normalized
by `predict.py` with Pillow and numpy, reproducing `preprocessor_config.json` (the parameters are in
`bundle.json`); `ftui export` checked this against the HF image processor on every validation image.
"""
