"""The optional ONNX variants: onnxruntime graph optimization (through optimum) and dynamic int8.

Each variant is a separate file in the bundle and is validated exactly like fp32 (pipeline.py).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from .convert import quiet
from .errors import ExportError

# Dynamic int8 weight schemes, tried in this order until one passes the accuracy gate. Per-channel
# keeps a scale per output column, which small models such as MiniLM need; one scale per tensor
# is the fallback when per-channel loses too much.
INT8_SCHEMES = ("per-channel", "per-tensor")


def optimize(fp32: Path, level: str, out: Path) -> Path:
    """Writes `out`: the fp32 graph after onnxruntime's O1 (basic) or O2 (extended + transformer fusions) passes."""
    from optimum.onnxruntime import AutoOptimizationConfig, ORTOptimizer

    with tempfile.TemporaryDirectory(dir=out.parent) as tmp, quiet("optimum"):
        try:
            optimizer = ORTOptimizer.from_pretrained(fp32.parent, file_names=[fp32.name])
            config = AutoOptimizationConfig.with_optimization_level(level)
            optimizer.optimize(save_dir=tmp, optimization_config=config, file_suffix="")
        except (NotImplementedError, KeyError, ValueError) as e:
            raise ExportError(f"{level} optimization is not available for this model ({str(e).splitlines()[0][:160]})") from None
        shutil.move(Path(tmp) / fp32.name, out)
    return out


def quantize_int8(src: Path, out: Path, scheme: str) -> Path:
    """Writes `out`: dynamic int8 weights (activations quantized at run time), per-channel or per-tensor."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with quiet():  # the quantizer warns about pre-processing through the root logger
        quantize_dynamic(src, out, per_channel=scheme == "per-channel", weight_type=QuantType.QInt8,
                         extra_options={"DefaultTensorType": 1})  # FLOAT, for fused ops shape inference cannot type
    return out
