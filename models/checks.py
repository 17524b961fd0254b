"""A model folder's files, checked before any run directory exists: config.json and the weights header.

Standard library only (json, struct; huggingface_hub to find a cached hub model): a folder that
transformers would fail to load, or a pickle ftui will not load, is a one-line ModelError here,
not a failed run. A hub model that is not downloaded yet is checked when it loads.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

from .errors import ModelError
from .hub import cached_file, offline
from .presets import ResolvedModel

SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
PICKLES = ("pytorch_model.bin", "pytorch_model.bin.index.json")
MAX_HEADER = 100_000_000  # safetensors' own limit on the JSON header
# Models whose position ids start after the padding index: they take max_position_embeddings - pad - 1 tokens.
OFFSET_POSITIONS = ("roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "roberta-prelayernorm",
                    "data2vec-text", "xmod", "longformer", "mpnet")


def check_model_files(model: ResolvedModel) -> dict | None:
    """The parsed config.json of a model on disk, after its weights header checks out; None for a hub
    model not downloaded yet (transformers downloads and checks it when it loads)."""
    folder = model_folder(model)
    if folder is None:
        return None
    config = read_config(folder, model.name)
    # A hub snapshot may hold the config alone while online: transformers fetches the weights then.
    check_weights(folder, model.name, required=model.origin != "hub-cache" or offline())
    return config


def model_folder(model: ResolvedModel) -> Path | None:
    """The folder that holds ``model``'s files: the folder itself, or a cached hub model's snapshot."""
    if model.origin in ("folder", "package"):
        return Path(model.source)
    if model.origin != "hub-cache":
        return None
    cached = cached_file(model.source, "config.json")
    return cached.parent if cached is not None else None


def read_config(folder: Path, name: str) -> dict:
    """config.json as a dict with a model_type, or a ModelError that says what is wrong with it."""
    path = folder / "config.json"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ModelError(f"model {name!r}: {path} is not UTF-8 text, so it is no HF config") from None
    except OSError as e:
        raise ModelError(f"model {name!r}: cannot read {path} ({e.strerror or e})") from None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise ModelError(f"model {name!r}: {path} is not valid JSON ({e.msg} at line {e.lineno}, "
                         f"column {e.colno})") from None
    except RecursionError:
        raise ModelError(f"model {name!r}: {path} is nested too deeply to be an HF config") from None
    if not isinstance(config, dict):
        raise ModelError(f"model {name!r}: {path} is not a JSON object, so it is no HF config")
    if not isinstance(config.get("model_type"), str) or not config["model_type"]:
        raise ModelError(f"model {name!r}: {path} has no model_type, so transformers cannot tell which "
                         "architecture it is")
    return config


def check_weights(folder: Path, name: str, required: bool = True) -> None:
    """The folder's safetensors weights (one file or an index of shards) have intact headers.

    Pickle weights alone are refused: loading a pickle can run any code it holds."""
    single, index = folder / SAFETENSORS, folder / SAFETENSORS_INDEX
    if single.is_file():
        read_safetensors_header(single, name)
        return
    if index.is_file():
        for shard in _shards(index, name):
            if not (folder / shard).is_file():
                raise ModelError(f"model {name!r}: {index.name} names the shard {shard}, which is not in {folder}")
            read_safetensors_header(folder / shard, name)
        return
    pickles = [p for p in PICKLES if (folder / p).is_file()]
    if pickles:
        raise ModelError(
            f"model {name!r}: {folder} has only pickle weights ({', '.join(pickles)}); ftui never loads "
            "pickles, because loading one can run any code it holds. Where you trust the file, convert it "
            f"to {SAFETENSORS}: python -c \"from transformers import AutoModel; "
            f"AutoModel.from_pretrained('{folder}').save_pretrained('{folder}')\"")
    if required:
        raise ModelError(f"model {name!r}: {folder} has no weights ({SAFETENSORS}): a config alone is not a "
                         "model; copy the weights in, or set model.name to the folder that has them")


def _shards(index: Path, name: str) -> list[str]:
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        shards = sorted(set(weight_map.values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise ModelError(f"model {name!r}: {index} is not a safetensors index (JSON with a weight_map)") from None
    if not all(isinstance(s, str) and s and os.sep not in s and s not in (".", "..") for s in shards):
        raise ModelError(f"model {name!r}: {index} names shards that are not file names in its folder")
    return shards


def read_safetensors_header(path: Path, name: str) -> dict:
    """A safetensors file's header ({tensor: {dtype, shape, data_offsets}}), without reading tensors.

    Checks what a truncated or overwritten file breaks: the header length, its JSON, and that every
    tensor's bytes lie inside the file."""
    def corrupt(why: str) -> ModelError:
        return ModelError(f"model {name!r}: {path} is corrupt ({why}); download or save the weights again")

    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise corrupt(f"{size} bytes, shorter than the 8-byte header length")
        (length,) = struct.unpack("<Q", head)
        if length > MAX_HEADER or 8 + length > size:
            raise corrupt(f"its header claims {length} bytes and the file has {size}: truncated or not safetensors")
        raw = f.read(length)
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError too
        raise corrupt("its header is not valid JSON") from None
    if not isinstance(header, dict):
        raise corrupt("its header is not a JSON object")
    data_bytes = size - 8 - length
    for tensor, entry in header.items():
        if tensor != "__metadata__" and not _inside(entry, data_bytes):
            raise corrupt(f"tensor {tensor[:80]!r} lies outside the file's {data_bytes} data bytes: truncated")
    return header


def _inside(entry, data_bytes: int) -> bool:
    offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
    return (isinstance(offsets, list) and len(offsets) == 2
            and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            and 0 <= offsets[0] <= offsets[1] <= data_bytes)


def position_limit(config: dict) -> tuple[int, str] | None:
    """The most tokens the model's position embeddings take, and how that follows from its config;
    None when the config says no limit (no max_position_embeddings)."""
    positions = config.get("max_position_embeddings")
    if not isinstance(positions, int) or isinstance(positions, bool) or positions <= 0:
        return None
    pad = config.get("pad_token_id")
    if config.get("model_type") in OFFSET_POSITIONS and isinstance(pad, int) and 0 <= pad < positions - 1:
        return positions - pad - 1, (f"max_position_embeddings = {positions}, less {pad + 1} for "
                                     f"{config['model_type']}'s padding offset")
    return positions, f"max_position_embeddings = {positions}"
