"""Export's half of logits reuse: the trainer's saved fp32 validation logits stand in for the PyTorch pass
only when their key matches this export's own inputs, the checkpoint's weights and the logits file
(ftui.rundir.reference_logits). Any mismatch or doubt returns None and says why: PyTorch then runs.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np

from ftui.rundir import reference_logits as ref


def saved_reference(task, source, examples, split) -> tuple[np.ndarray | None, dict]:
    """(the saved logits or None, the report's "reference" entry: reused with its hashes, or computed and why)."""
    folder = source.checkpoint
    key = ref.read_key(folder)
    if key is None:
        return None, computed("the checkpoint has no saved validation logits")
    if key.get("task") != task.name or key.get("rows") != len(examples):
        return None, computed(f"saved for {key.get('task')} on {key.get('rows')} rows, "
                              f"this export is {task.name} on {len(examples)}")
    try:
        weights = ref.file_sha256(folder / "model.safetensors")
        if weights != key.get("weights_sha256"):
            return None, computed("model.safetensors is not the file the logits were computed with")
        digest = task.inputs_digest(source, examples, split)
        if digest is None:
            return None, computed(f"{task.name} does not reuse saved logits")
        if digest != key.get("inputs_sha256"):
            return None, computed("the validation inputs differ from the ones the trainer evaluated")
        data = (folder / ref.LOGITS_FILE).read_bytes()
    except OSError as e:
        return None, computed(f"unreadable ({e.strerror or e})")
    if hashlib.sha256(data).hexdigest() != key.get("logits_sha256"):
        return None, computed(f"{ref.LOGITS_FILE} does not match its key")
    logits = _load(data)
    if logits is None or logits.dtype != np.float32 or list(logits.shape) != key.get("shape"):
        return None, computed(f"{ref.LOGITS_FILE} is not float32 of shape {key.get('shape')}")
    return logits, {"reused": True, "step": key.get("step"), "inputs": key.get("inputs"),
                    "inputs_sha256": digest, "weights_sha256": weights, "computed": key.get("computed")}


def computed(why: str) -> dict:
    return {"reused": False, "why": why}


def _load(data: bytes) -> np.ndarray | None:
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError):
        return None
