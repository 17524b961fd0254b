"""Checking checkpoints before trusting them: a kill or a full disk can leave a torn one."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

from .errors import CheckpointError
from .rundir import RunDir, list_checkpoints


def check_checkpoint(folder: Path) -> None:
    """Raises CheckpointError unless ``folder`` is a complete, readable HF checkpoint."""
    for name in ("config.json", "trainer_state.json"):
        try:
            json.loads((folder / name).read_text())
        except (OSError, ValueError) as e:
            raise CheckpointError(f"{folder}: {name} is missing or corrupt ({type(e).__name__})") from None
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise CheckpointError(f"{folder}: no model.safetensors")
    _check_safetensors(weights)
    adapter = folder / "adapter" / "adapter_model.safetensors"  # LoRA runs resume from their adapters
    if adapter.exists():
        _check_safetensors(adapter)
    for name in ("optimizer.pt", "scheduler.pt"):
        path = folder / name
        if path.exists() and not _zip_intact(path):
            raise CheckpointError(f"{folder}: {name} is truncated or corrupt")


def _check_safetensors(path: Path) -> None:
    """The header parses and the file is as long as the header says (catches truncation)."""
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            (header_len,) = struct.unpack("<Q", f.read(8))
            if header_len > size:
                raise ValueError("header longer than file")
            header = json.loads(f.read(header_len))
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    except (OSError, ValueError, struct.error, KeyError, TypeError) as e:
        raise CheckpointError(f"{path}: not a valid safetensors file ({e})") from None
    if 8 + header_len + end > size:
        raise CheckpointError(f"{path}: truncated ({size} of {8 + header_len + end} bytes)")


def _zip_intact(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return z.testzip() is None
    except (OSError, zipfile.BadZipFile):
        return False


def newest_good_checkpoint(run: RunDir, warn=None) -> Path | None:
    """The newest checkpoint that passes ``check_checkpoint``; older ones are tried in turn.

    None when the run has no checkpoint at all; CheckpointError when all of them are broken.
    """
    found = list_checkpoints(run.checkpoints)
    errors = []
    for folder in reversed(found):
        try:
            check_checkpoint(folder)
            return folder
        except CheckpointError as e:
            errors.append(str(e))
            if warn:
                warn(f"skipping a broken checkpoint: {e}")
    if errors:
        raise CheckpointError(f"no intact checkpoint to resume from: {errors[0]}")
    return None
