"""A checkpoint's fp32 validation logits, saved by the trainer, reused by export only when provably the same.

The evaluation that precedes a save already ran every validation example through the model; export
would run them again to have a PyTorch reference. The trainer writes those logits into the
checkpoint (LOGITS_FILE, a float32 .npy) with a key (KEY_FILE): a sha256 of the exact model inputs,
example by example and independent of batch padding, a sha256 of model.safetensors as saved, and a
sha256 of the .npy. Export recomputes all three from its own inputs and the files and reuses the
logits only when every one matches; anything else means PyTorch runs as before.

Both sides build the inputs digest with ``example_digest`` over the same canonical parts (stdlib
only here: a part is raw bytes):
- text: for each model input name in sorted order, the example's values without padding as int64;
- image: the decoded RGB image (uint8, H x W x 3, with its shape), plus the checkpoint's
  preprocessor_config.json bytes under the name "preprocessor_config.json".
"""

from __future__ import annotations

import array
import hashlib
import json
from pathlib import Path

LOGITS_FILE = "ftui_validation_logits.npy"
KEY_FILE = "ftui_validation_logits.json"
FORMAT = "ftui-validation-logits"
VERSION = 1


def int64_bytes(values) -> bytes:
    """Little-endian int64 bytes of a sequence of ints (token ids, masks): the text tasks' canonical form."""
    a = array.array("q", [int(v) for v in values])
    if array.array("q", [1]).tobytes()[0] != 1:  # a big-endian machine
        a.byteswap()
    return a.tobytes()


def example_digest(parts: dict[str, bytes]) -> bytes:
    """sha256 over (name, length, bytes) of each part in name order: one example's model inputs."""
    h = hashlib.sha256()
    for name in sorted(parts):
        data = parts[name]
        h.update(name.encode() + b"\0" + len(data).to_bytes(8, "little") + data)
    return h.digest()


def text_example(values: dict[str, list[int]]) -> bytes:
    """A text example's digest from its model inputs without padding ({"input_ids": [...], ...})."""
    return example_digest({name: int64_bytes(v) for name, v in values.items()})


def image_example(shape: tuple[int, ...], pixels: bytes) -> bytes:
    """An image example's digest from its decoded RGB uint8 pixels (row-major bytes) and their shape."""
    return example_digest({"rgb_uint8": "x".join(map(str, shape)).encode() + b"\0" + pixels})


def image_inputs_digest(digests: list[bytes], preprocessor_config: bytes) -> str:
    """The images' digest and the image processor's configuration, which turns them into pixel values."""
    return inputs_digest([*digests, example_digest({"preprocessor_config.json": preprocessor_config})])


def inputs_digest(digests) -> str:
    """The hex sha256 of the examples' digests in validation-file order, with their count."""
    h = hashlib.sha256()
    n = 0
    for d in digests:
        h.update(bytes(d))
        n += 1
    h.update(n.to_bytes(8, "little"))
    return h.hexdigest()


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def make_key(task: str, step: int, rows: int, shape: list[int], inputs_sha256: str, weights_sha256: str,
             logits_sha256: str, inputs: str) -> dict:
    return {"format": FORMAT, "v": VERSION, "task": task, "step": step, "rows": rows, "shape": shape,
            "dtype": "float32", "computed": "model.eval(), float32 weights, no autocast, one process",
            "inputs": inputs, "inputs_sha256": inputs_sha256, "weights_sha256": weights_sha256,
            "logits_sha256": logits_sha256}


def read_key(folder: Path) -> dict | None:
    """The checkpoint's key, or None when it has none or it is not one this version writes."""
    try:
        key = json.loads((Path(folder) / KEY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(key, dict) or key.get("format") != FORMAT or key.get("v") != VERSION:
        return None
    return key
