"""The trainer's half of logits reuse (ftui.rundir.reference_logits): an evaluation's fp32 logits, in
validation-file order, written into the checkpoint saved at the same step with their key.

Only what is provably export's PyTorch reference is written: float32 weights in eval mode with no
autocast (a bf16/fp16 run's eval logits are not fp32: nothing is saved and export computes its own),
no TF32 on a GPU, one process, plain (not LoRA: the checkpoint holds merged weights the evaluation did not run), and a
text or image classification task. HF may evaluate in length-grouped order; a recording sampler keeps
the order it drew so the logits go back into the file's order.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
from pathlib import Path

import numpy as np
import torch

from ftui.rundir import reference_logits as ref

TEXT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
TASKS = ("sequence-classification", "image-classification")


class RecordingSampler(torch.utils.data.Sampler):
    """Yields the wrapped sampler's indices and remembers them: the order of the evaluation's outputs."""

    def __init__(self, inner):
        self.inner, self.order = inner, None

    def __len__(self) -> int:
        return len(self.inner)

    def __iter__(self):
        self.order = list(iter(self.inner))
        return iter(self.order)


def why_not_fp32(trainer, task: str) -> str | None:
    """Why this run's evaluation logits are not export's reference, or None when they are."""
    from .strategies import is_peft

    a = trainer.args
    if task not in TASKS:
        return f"{task}: not supported"
    if a.fp16 or a.bf16 or a.fp16_full_eval or a.bf16_full_eval or getattr(a, "torch_compile", False):
        return "mixed precision or compiled evaluation: the eval logits are not fp32 eager"
    if a.device.type == "cuda" and (torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32):
        return "TF32 matmuls or convolutions on the GPU: the eval logits are not fp32"
    if a.world_size > 1:
        return "several processes"
    if is_peft(trainer.model):
        return "LoRA: the checkpoint's merged weights are not what the evaluation ran"
    if any(p.dtype != torch.float32 for p in trainer.model.parameters()):
        return "the model's weights are not float32"
    return None


def ordered_logits(predictions, sampler: RecordingSampler | None, rows: int) -> np.ndarray | None:
    """The evaluation's logits in dataset order, or None when the order or the shape is not known."""
    logits = predictions[0] if isinstance(predictions, (tuple, list)) else predictions
    if logits is None or sampler is None or sampler.order is None:
        return None
    logits = np.asarray(logits)
    if logits.dtype != np.float32 or logits.ndim != 2 or len(logits) != rows or sorted(sampler.order) != list(range(rows)):
        return None
    out = np.empty_like(logits)
    out[np.asarray(sampler.order)] = logits
    return out


def dataset_digests(dataset, model) -> tuple[list[bytes], str] | None:
    """(one digest per example, what was hashed) for a text or image classification validation set."""
    if hasattr(dataset, "input_ids"):
        accepted = set(inspect.signature(model.forward).parameters)
        digests = []
        for i in range(len(dataset)):
            item = dataset[i]
            digests.append(ref.text_example({k: item[k] for k in TEXT_INPUTS if k in item and k in accepted}))
        return digests, "token ids per example, no padding"
    if hasattr(dataset, "images"):
        from ..data.image_features import open_image

        digests = []
        for source in dataset.images:
            rgb = np.ascontiguousarray(np.asarray(open_image(source), dtype=np.uint8))
            digests.append(ref.image_example(rgb.shape, rgb.tobytes()))
        return digests, "decoded RGB pixels per image + preprocessor_config.json"
    return None


def write_reference(folder: Path, task: str, step: int, logits: np.ndarray, digests: list[bytes], inputs: str) -> None:
    """Writes LOGITS_FILE and its KEY_FILE into the checkpoint ``folder`` (after its weights are written:
the key holds their sha256)."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(logits, dtype=np.float32), allow_pickle=False)
    data = buf.getvalue()
    folder = Path(folder)
    if task == "image-classification":
        digest = ref.image_inputs_digest(digests, (folder / "preprocessor_config.json").read_bytes())
    else:
        digest = ref.inputs_digest(digests)
    # The folder is the checkpoint's staging copy: it is fsynced and renamed into place as a whole.
    (folder / ref.LOGITS_FILE).write_bytes(data)
    key = ref.make_key(task, step, len(logits), list(logits.shape), digest, ref.file_sha256(folder / "model.safetensors"),
                       hashlib.sha256(data).hexdigest(), inputs)
    (folder / ref.KEY_FILE).write_text(json.dumps(key, indent=1), encoding="utf-8")
