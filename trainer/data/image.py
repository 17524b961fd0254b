"""Image-classification data: an image folder, a CSV/JSONL of image paths, or a built-in demo (no torch).

    path/to/folder      one sub-folder per class (cats/, dogs/, ...) holding image files
    file.csv / .jsonl   data.image_column (a path, relative to the file's folder) + data.label_column
    demo:digits         scikit-learn's bundled 1,797 8x8 handwritten digits (the offline default)
    demo:fashion-mnist  Zalando's Fashion-MNIST, 70k 28x28 grey (Debian: apt install dataset-fashion-mnist)

Every source becomes one ``ImageDataset``: a list of image *sources* (a file path, or a uint8 numpy
array for the in-memory demos) and their label names. Images are decoded lazily at training time;
here each image that the (sampled) splits keep is only checked to decode (PIL ``verify()``, cheap).
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from ftui.rundir.images import IMAGE_SUFFIXES
from ftui.rundir.tables import SUFFIXES, label_value, read_records, require_columns, text_value

from .text import TaskData, class_labels, decoding, require_every_class, stratified_sample, stratified_split
from ..errors import DataError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot")
DEMOS = {
    "demo:digits": "scikit-learn's 1,797 handwritten digits, 8x8 grey, 10 classes",
    "demo:fashion-mnist": "Fashion-MNIST, 60k + 10k 28x28 grey clothing images, 10 classes (dataset-fashion-mnist)",
}

ImageSource = Union[str, np.ndarray]  # a file path, or a uint8 (H, W) / (H, W, C) array


@dataclass
class ImageDataset:
    images: list[ImageSource]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, idx: list[int]) -> "ImageDataset":
        return ImageDataset([self.images[i] for i in idx], [self.labels[i] for i in idx])


def load_image_data(section, seed: int) -> TaskData:
    """Reads, checks, splits and samples the images the recipe names (same rules as the text data)."""
    train, validation, dropped = read_images(section.train, section)
    if section.validation:
        validation, _, more = read_images(section.validation, section)
        dropped += more
    elif validation is None:
        train, validation = stratified_split(train, section.validation_fraction, seed, section.train)
    labels = class_labels(train, validation, section.train)
    train = stratified_sample(train, section.max_train_rows, seed)
    require_every_class(train, labels, section)
    validation = stratified_sample(validation, section.max_validation_rows, seed + 1)
    for data in (train, validation):
        check_decodable(data)
    return TaskData(train, validation, labels, section.train, dropped)


def read_images(name: str, section) -> tuple[ImageDataset, ImageDataset | None, int]:
    """(data, the source's own validation split or None, rows dropped for an empty path or label)."""
    if name.startswith("demo:"):
        train, validation = load_demo(name)
        return train, validation, 0
    path = Path(name)
    if path.is_dir():
        return read_folder(path), None, 0
    if not path.exists():
        raise DataError(f"{path}: no such image folder or data file")
    if path.suffix.lower() not in SUFFIXES:
        raise DataError(f"{path}: unsupported data for images {path.suffix!r} "
                        "(use a folder with one sub-folder per class, or a .csv/.jsonl of image paths)")
    data, dropped = read_table(path, section)
    return data, None, dropped


def read_folder(root: Path) -> ImageDataset:
    """One class per sub-folder (its name is the label); image files anywhere below it, sorted."""
    classes = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise DataError(f"{root}: no class sub-folders (put each class's images in a folder named after it)")
    images, labels = [], []
    for folder in classes:
        files = sorted(str(p) for p in folder.rglob("*")
                       if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith("."))
        if not files:
            raise DataError(f"{folder}: class folder {folder.name!r} holds no images "
                            f"({', '.join(sorted(IMAGE_SUFFIXES))})")
        images += files
        labels += [folder.name] * len(files)
    return ImageDataset(images, labels)


def read_table(path: Path, section) -> tuple[ImageDataset, int]:
    """Rows of a CSV/TSV/JSONL/Parquet file: data.image_column (relative to the file) and data.label_column."""
    records = read_records(path, **decoding(section))
    require_columns(records, path, {"image": section.image_column, "label": section.label_column})
    images, labels, dropped = [], [], 0
    for where, row in records:
        image = text_value(where, row, section.image_column, "image")
        label = label_value(where, row, section.label_column)
        if image is None or label is None:
            dropped += 1
            continue
        file = path.parent / image.strip()
        if not _is_file(file):
            raise DataError(f"{where}: no such image file {str(file)!r}")
        images.append(str(file))
        labels.append(label)
    if not images:
        raise DataError(f"{path}: every row has an empty image or label")
    return ImageDataset(images, labels), dropped


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long for the file system is no file either
        return False


def check_decodable(data: ImageDataset) -> None:
    """Every file image must decode: a one-line DataError now rather than a crash mid-run."""
    from PIL import Image

    from ftui.export.image_decode import ImageModeError, check_mode_and_shape
    from ftui.models.errors import first_line

    for source in data.images:
        if isinstance(source, np.ndarray):
            continue
        try:
            with Image.open(source) as image:
                image.verify()
                check_mode_and_shape(image)  # the header's mode and size: no pixels decoded
        except ImageModeError as e:
            raise DataError(f"{source}: {e}") from None
        except Exception as e:  # PIL raises UnidentifiedImageError, OSError, SyntaxError, ... for bad files
            raise DataError(f"{source}: not a readable image ({first_line(e)})") from None


# ---- built-in demos ----------------------------------------------------------------------------

def load_demo(name: str) -> tuple[ImageDataset, ImageDataset | None]:
    """(train, validation or None) for a demo name."""
    if name == "demo:digits":
        return digits(), None
    if name == "demo:fashion-mnist":
        return fashion_mnist()
    raise DataError(f"unknown image demo {name!r} (known: {', '.join(DEMOS)})")


def digits() -> ImageDataset:
    """scikit-learn's digits.csv.gz (64 grey levels 0..16, then the digit), read directly: no sklearn import."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("demo:digits needs scikit-learn's bundled data: pip install scikit-learn")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "digits.csv.gz"
    try:
        with gzip.open(path, "rt", newline="") as f:
            rows = [list(map(float, row)) for row in csv.reader(f) if row]
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read scikit-learn's digits ({e})") from None
    values = np.array(rows)
    pixels = np.rint(values[:, :64] * (255 / 16)).astype(np.uint8).reshape(-1, 8, 8)
    return ImageDataset(list(pixels), [str(int(v)) for v in values[:, 64]])


def fashion_mnist(root: Path = FASHION_MNIST_DIR) -> tuple[ImageDataset, ImageDataset]:
    """The 60k training and 10k test images (the test set is the validation split), from Debian's IDX files."""
    splits = []
    for part in ("train", "t10k"):
        images = root / f"{part}-images-idx3-ubyte.gz"
        labels = root / f"{part}-labels-idx1-ubyte.gz"
        if not images.is_file() or not labels.is_file():
            raise DataError(f"demo:fashion-mnist: {images.parent} has no {part} files; "
                            "apt install dataset-fashion-mnist")
        pixels, ids = read_idx(images), read_idx(labels)
        if pixels.ndim != 3 or ids.ndim != 1 or len(pixels) != len(ids) or ids.max(initial=0) >= 10:
            raise DataError(f"{images}: images and labels do not match ({pixels.shape} vs {ids.shape})")
        splits.append(ImageDataset(list(pixels), [FASHION_MNIST_CLASSES[i] for i in ids]))
    return splits[0], splits[1]


IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (MNIST's format; gzip or plain): magic 0 0 <type> <ndim>, big-endian dims, then data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in IDX_TYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    dtype = np.dtype(IDX_TYPES[raw[2]])
    body = raw[4 + 4 * ndim:]
    if len(body) != int(np.prod(dims)) * dtype.itemsize:
        raise DataError(f"{path}: truncated IDX file ({len(body)} data bytes for shape {dims})")
    return np.frombuffer(body, dtype).reshape(dims)
