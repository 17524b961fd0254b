"""Runs the real validation split through PyTorch and onnxruntime on the same model inputs.

The inputs come from the task's split (tasks.py), made by the predictor code that ships in the
bundle, so a pass here is a statement about what `ftui predict` will do.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from .convert import session_static_axes
from .errors import ExportError
from .predictor import open_session
from .report import VariantResult
from .tasks import Examples, ExportTask, Split


def pytorch_outputs(model, split: Split, cancel: threading.Event | None = None):
    import torch

    out = []
    with torch.inference_mode():
        for b in split.batches:
            if cancel is not None and cancel.is_set():
                raise ExportError("validation cancelled")
            out.append(model(**{k: torch.from_numpy(v) for k, v in b.items()}).logits.float().numpy())
    return split.collect(out)


def ort_outputs(session, split: Split):
    names = [i.name for i in session.get_inputs()]
    missing = [n for n in names if n not in split.batches[0]]
    if missing:
        raise ExportError(f"the ONNX model wants inputs the PyTorch model does not take: {missing}")
    return split.collect([session.run(None, {n: b[n] for n in names})[0] for b in split.batches])


class Reference:
    """PyTorch's outputs on the validation split; checks an ONNX file against them like every other.

    The PyTorch pass starts at once in a background thread on half the cores, so it overlaps the
    ONNX export and the fp32 onnxruntime pass instead of adding to them (and PyTorch's OpenMP pool
    slows down sharply when it must share its cores with another runtime).
    """

    def __init__(self, model, task: ExportTask, source, examples: Examples, split: Split, cores: int, saved=None):
        """``saved``: the trainer's logits of these inputs (export/reuse.py proved them), used instead of a pass."""
        self.task, self.source, self.examples, self.split, self.cores = task, source, examples, split, cores
        self.torch_threads = max(1, cores // 2)
        self._cancel = threading.Event()
        self.pytorch_s = 0.0  # wall time of the PyTorch pass, once done
        if saved is not None:
            self._future = Future()
            self._future.set_result(saved)
            return
        pool = ThreadPoolExecutor(1, thread_name_prefix="ftui-pytorch-reference")
        self._future = pool.submit(self._pytorch, model)
        pool.shutdown(wait=False)

    @property
    def logits(self):
        """PyTorch's outputs in the split's original order (waits for the background pass)."""
        return self._future.result()

    def _pytorch(self, model):
        import torch

        old, start = torch.get_num_threads(), time.perf_counter()
        torch.set_num_threads(self.torch_threads)
        try:
            return pytorch_outputs(model, self.split, self._cancel)
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
        outputs = ort_outputs(session, self.split)
        metrics = self.task.compare(outputs, self.logits, self.examples)
        static = session_static_axes(session)
        shapes = self.task.shape_check(session, self.source, self.examples, static)
        return VariantResult(name, path.name, path.stat().st_size, metrics, shapes, note)
