"""Latency and throughput of PyTorch eager and each ONNX variant on the same fixed-length inputs.

Runtimes take turns in short rounds (round-robin) rather than one after another, so a neighbour's
load on a shared machine slows all of them alike and the ratios stay fair; each turn starts after
a pause so one runtime's idle-spinning threads do not slow the next. Each measurement is
time-boxed, but every runtime gets at least `min_iters` timed runs after a warm-up. The thread
count applies to PyTorch and to every onnxruntime session and is recorded in the report.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .predictor import open_session

BATCHES = (1, 32)
SETTLE_S = 0.05  # idle time between runtimes' turns


@dataclass(frozen=True)
class Budget:
    """Per batch size: warm-up calls, then rounds of `chunk` timed calls per runtime until every runtime
    has min_iters and `seconds` per runtime have passed (or max_iters is reached)."""

    seconds: float = 2.0
    min_iters: int = 5
    max_iters: int = 200
    warmup: int = 2
    chunk: int = 5


# What `ftui export` measures with: about 2 s per runtime and batch size.
DEFAULT_BUDGET = Budget()
# Choosing between int8 tries that all pass the gate (int8.py): about half a second each, at batch 1.
CHOICE_BUDGET = Budget(seconds=0.5, min_iters=20)


def time_round_robin(fns: dict[str, callable], budget: Budget, load=None) -> dict[str, list[float]]:
    """Wall-clock seconds of each timed call, per runtime name.

    Before each runtime's turn: a short pause, so the previous runtime's spinning worker threads
    (onnxruntime and OpenMP both spin a while after a call) have gone idle, then one untimed call.
    ``load`` (a machine.OtherLoad) is entered around the whole timed loop: other processes' CPU use then.
    """
    with load if load is not None else contextlib.nullcontext():
        return _round_robin(fns, budget)


def _round_robin(fns: dict[str, callable], budget: Budget) -> dict[str, list[float]]:
    for fn in fns.values():
        for _ in range(budget.warmup):
            fn()
    times = {name: [] for name in fns}
    start, deadline = time.perf_counter(), budget.seconds * len(fns)
    while True:
        counts = [len(t) for t in times.values()]
        if min(counts) >= budget.max_iters or (min(counts) >= budget.min_iters and time.perf_counter() - start >= deadline):
            return times
        for name, fn in fns.items():
            time.sleep(SETTLE_S)
            fn()
            for _ in range(budget.chunk):
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)


def summarize(name: str, batch: int, times: list[float]) -> dict:
    ms = np.array(times) * 1000
    median = float(np.median(ms))
    return {"runtime": name, "batch": batch, "median_ms": median, "p90_ms": float(np.percentile(ms, 90)),
            "min_ms": float(ms.min()), "throughput_per_s": batch * 1000 / median, "iterations": len(times)}


def benchmark(model, variants: dict[str, Path], inputs: dict[int, dict], threads: int, budget: Budget,
              load=None) -> list[dict]:
    """summarize() rows for PyTorch (when a model is given) and each ONNX file, at every batch size;
    ``load`` (a machine.OtherLoad) measures other processes' CPU use during the timed rounds."""
    import torch

    sessions = {name: open_session(path, threads) for name, path in variants.items()}
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    rows = []
    try:
        with torch.inference_mode():
            for batch, x in inputs.items():
                fns = {} if model is None else {"pytorch": _torch_call(model, x)}
                fns.update({name: (lambda s=s: s.run(None, x)) for name, s in sessions.items()})
                rows += [summarize(name, batch, t) for name, t in time_round_robin(fns, budget, load).items()]
    finally:
        torch.set_num_threads(old)
    return rows


def _torch_call(model, inputs: dict):
    import torch

    tensors = {k: torch.from_numpy(v) for k, v in inputs.items()}
    return lambda: model(**tensors)
