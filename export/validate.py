"""Runs the real validation split through PyTorch and onnxruntime with the bundle's own tokenization.

Both runtimes get the same int64 arrays, made by the predictor code that ships in the bundle from
the tokenizer.json that ships in it, so a pass here is a statement about what `ftui predict` will
do. Texts are sorted by length before batching (less padding, same logits) and put back in order.
"""

from __future__ import annotations

import inspect
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .convert import EXPORT_BATCH, EXPORT_SEQUENCE, graph_info
from .errors import ExportError
from .metrics import compare
from .predictor import encode_texts, load_tokenizer, open_session
from .report import VariantResult

BATCH_SIZE = 32
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# The shape check runs a batch and a length the export never traced with.
CHECK_BATCH, CHECK_SEQUENCE = EXPORT_BATCH + 1, EXPORT_SEQUENCE + 1


@dataclass
class EncodedSplit:
    """The validation texts as model inputs, batched in length order."""

    batches: list[dict[str, np.ndarray]]
    order: np.ndarray  # order[i] = original index of the i-th sorted text

    def unsort(self, sorted_logits: np.ndarray) -> np.ndarray:
        out = np.empty_like(sorted_logits)
        out[self.order] = sorted_logits
        return out


def encode_split(tokenizer, texts: list[str], input_names: list[str]) -> EncodedSplit:
    lengths = [sum(e.attention_mask) for e in tokenizer.encode_batch(texts)]  # real tokens, padding excluded
    order = np.argsort(lengths, kind="stable")
    ordered = [texts[i] for i in order]
    batches = [encode_texts(tokenizer, ordered[i:i + BATCH_SIZE], input_names)
               for i in range(0, len(ordered), BATCH_SIZE)]
    return EncodedSplit(batches, order)


def model_input_names(model) -> list[str]:
    """The standard text inputs the PyTorch model's forward() accepts (DistilBERT has no token_type_ids)."""
    params = inspect.signature(model.forward).parameters
    return [name for name in MODEL_INPUTS if name in params]


def pytorch_logits(model, split: EncodedSplit, cancel: threading.Event | None = None) -> np.ndarray:
    import torch

    out = []
    with torch.inference_mode():
        for b in split.batches:
            if cancel is not None and cancel.is_set():
                raise ExportError("validation cancelled")
            out.append(model(**{k: torch.from_numpy(v) for k, v in b.items()}).logits.float().numpy())
    return split.unsort(np.concatenate(out))


def ort_logits(session, split: EncodedSplit) -> np.ndarray:
    names = [i.name for i in session.get_inputs()]
    missing = [n for n in names if n not in split.batches[0]]
    if missing:
        raise ExportError(f"the ONNX model wants inputs the PyTorch model does not take: {missing}")
    return split.unsort(np.concatenate([session.run(None, {n: b[n] for n in names})[0] for b in split.batches]))


def check_tokenization(checkpoint: Path, tokenizer, texts: list[str], max_length: int) -> dict:
    """Counts texts whose ids from the bundle's tokenizer differ from the checkpoint's HF tokenizer (what training used)."""
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(checkpoint)
    expected = hf(texts, truncation=True, max_length=max_length)["input_ids"]
    got = [e.ids[:sum(e.attention_mask)] for e in tokenizer.encode_batch(texts)]
    bad = [i for i, (a, b) in enumerate(zip(expected, got)) if list(a) != list(b)]
    return {"texts": len(texts), "mismatches": len(bad), "first_mismatch": texts[bad[0]][:80] if bad else None}


def check_shapes(session, tokenizer_path: Path, texts: list[str], n_labels: int, static_axes: list[str]) -> dict:
    """Runs CHECK_BATCH texts padded/truncated to CHECK_SEQUENCE tokens; the graph must declare dynamic
    batch and sequence axes and answer with (CHECK_BATCH, n_labels) logits."""
    tok = load_tokenizer(tokenizer_path, CHECK_SEQUENCE)
    tok.enable_padding(pad_id=tok.padding["pad_id"], pad_token=tok.padding["pad_token"], length=CHECK_SEQUENCE)
    inputs = encode_texts(tok, (texts * CHECK_BATCH)[:CHECK_BATCH], [i.name for i in session.get_inputs()])
    shape = list(session.run(None, inputs)[0].shape)
    return {"batch": CHECK_BATCH, "sequence": CHECK_SEQUENCE, "output_shape": shape, "static_axes": static_axes,
            "ok": shape == [CHECK_BATCH, n_labels] and not static_axes}


class Reference:
    """PyTorch's logits on the validation split; checks an ONNX file against them like every other.

    The PyTorch pass starts at once in a background thread on half the cores, so it overlaps the
    ONNX export and the fp32 onnxruntime pass instead of adding to them (and PyTorch's OpenMP pool
    slows down sharply when it must share its cores with another runtime).
    """

    def __init__(self, model, tokenizer_path: Path, max_length: int, pad_token: str, texts: list[str],
                 truth: np.ndarray, n_labels: int, cores: int):
        self.tokenizer_path, self.texts, self.truth, self.n_labels, self.cores = tokenizer_path, texts, truth, n_labels, cores
        self.tokenizer = load_tokenizer(tokenizer_path, max_length, pad_token)
        self.split = encode_split(self.tokenizer, texts, model_input_names(model))
        self.torch_threads = max(1, cores // 2)
        self._cancel = threading.Event()
        self.pytorch_s = 0.0  # wall time of the PyTorch pass, once done
        pool = ThreadPoolExecutor(1, thread_name_prefix="ftui-pytorch-reference")
        self._future = pool.submit(self._pytorch, model)
        pool.shutdown(wait=False)

    @property
    def logits(self) -> np.ndarray:
        """PyTorch's logits in the split's original order (waits for the background pass)."""
        return self._future.result()

    def _pytorch(self, model) -> np.ndarray:
        import torch

        old, start = torch.get_num_threads(), time.perf_counter()
        torch.set_num_threads(self.torch_threads)
        try:
            return pytorch_logits(model, self.split, self._cancel)
        finally:
            torch.set_num_threads(old)
            self.pytorch_s = time.perf_counter() - start

    def cancel(self) -> None:
        """Stops the background PyTorch pass at the next batch (the export failed meanwhile)."""
        self._cancel.set()

    def check(self, name: str, path: Path, note: str = "") -> VariantResult:
        """A VariantResult: |Δlogit|, agreement and task metrics on the split, plus the dynamic-shape check."""
        threads = self.cores if self._future.done() else max(1, self.cores - self.torch_threads)
        session = open_session(path, threads)
        logits = ort_logits(session, self.split)
        metrics = compare(logits, self.logits, self.truth)
        static = graph_info(path).static_axes()
        shapes = check_shapes(session, self.tokenizer_path, self.texts, self.n_labels, static)
        return VariantResult(name, path.name, path.stat().st_size, metrics, shapes, note)
