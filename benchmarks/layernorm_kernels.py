"""onnxruntime's CPU SkipLayerNormalization vs the Add + LayerNormalization ftui's export splits it into.

    python benchmarks/layernorm_kernels.py [--calls 500]

One residual layer norm of a BERT layer ([1, sequence, hidden], bias included, as onnxruntime's transformer
optimizer fuses it), both graphs timed in one run in alternating blocks, sessions as ftui opens them
(predictor.open_session: the session-level fusion back into SkipLayerNormalization disabled). Prints the
setup, the medians and the ratio per shape and thread count.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

SHAPES = ((128, 384), (128, 768), (16, 384))  # MiniLM-L6 / BERT-base at sequence 128, a short text
THREADS = (1, 2)
BLOCK = 25  # calls per block; the graphs alternate block by block


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=500, help="timed calls per graph, shape and thread count")
    args = p.parse_args()
    import onnx
    import onnxruntime as ort

    from ftui.export.layernorm import split_skip_layer_norms
    from ftui.export.machine import OtherLoad, cpu_features, describe_features, ratios_reliable, unreliable_line
    from ftui.export.predictor import open_session

    print(f"onnxruntime {ort.__version__}, onnx {onnx.__version__}, numpy {np.__version__}, python {platform.python_version()}")
    print(f"cpu {describe_features(cpu_features())}, {os.cpu_count()} cpus; {args.calls} timed calls per graph, "
          f"blocks of {BLOCK}\n")
    load = OtherLoad()
    print(f"{'sequence x hidden':>18} {'threads':>7} {'SkipLayerNorm us':>17} {'Add+LayerNorm us':>17} {'ratio':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for sequence, hidden in SHAPES:
            fused, split = Path(tmp) / f"fused{hidden}.onnx", Path(tmp) / f"split{hidden}.onnx"
            onnx.save(residual_layer_norm(hidden), fused)
            onnx.save(onnx.load(fused), split)
            split_skip_layer_norms(split)
            rng = np.random.default_rng(0)
            feeds = {n: rng.normal(size=(1, sequence, hidden)).astype(np.float32) for n in ("x", "skip")}
            for threads in THREADS:
                sessions = {name: open_session(path, threads) for name, path in (("fused", fused), ("split", split))}
                with load:
                    us = _alternating_medians(sessions, feeds, args.calls)
                print(f"{f'{sequence} x {hidden}':>18} {threads:>7} {us['fused']:>17.1f} {us['split']:>17.1f} "
                      f"{us['fused'] / us['split']:>6.1f}x")
    print(f"\nload: other processes used {load.cores:.2f} cores on average while timed")
    if not ratios_reliable(load.cores):
        print(unreliable_line(load.cores))
        return 3
    return 0


def residual_layer_norm(hidden: int):
    """SkipLayerNormalization(x, skip, gamma, beta, bias) over [1, sequence, hidden], as the O2 graph has it."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.normal(size=hidden).astype(np.float32), n) for n in ("gamma", "beta", "bias")]
    shape = [1, "sequence", hidden]
    node = helper.make_node("SkipLayerNormalization", ["x", "skip", "gamma", "beta", "bias"], ["y"],
                            domain="com.microsoft", epsilon=1e-12)
    graph = helper.make_graph([node], "residual_layer_norm",
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("x", "skip")],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    return model


def _alternating_medians(sessions: dict, feeds: dict, calls: int) -> dict[str, float]:
    times = {name: [] for name in sessions}
    for s in sessions.values():
        for _ in range(20):
            s.run(None, feeds)
    while min(len(t) for t in times.values()) < calls:
        for name, s in sessions.items():
            time.sleep(0.02)  # the other session's worker threads stop spinning
            s.run(None, feeds)
            for _ in range(BLOCK):
                start = time.perf_counter()
                s.run(None, feeds)
                times[name].append(time.perf_counter() - start)
    return {name: 1e6 * float(np.median(t)) for name, t in times.items()}


if __name__ == "__main__":
    raise SystemExit(main())
