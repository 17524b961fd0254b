"""The optional ONNX variants: onnxruntime graph optimization (through optimum), dynamic and static int8.

Each variant is a separate file in the bundle and is validated exactly like fp32 (pipeline.py).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .convert import graph_info, quiet
from .errors import ExportError


@dataclass(frozen=True)
class Int8Scheme:
    """One way to quantize: a scale per output column or per tensor, embeddings int8 or left in fp32,
    and for static int8 the calibration method that sets the activation ranges."""

    name: str  # in the report and the scheme's file name
    per_channel: bool
    fp32_embeddings: bool = False
    static: bool = False  # activations quantized with ranges calibrated on training inputs (QDQ), not at run time
    method: str = "MinMax"  # static only: onnxruntime's CalibrationMethod name

    def describe(self) -> str:
        weights = "per-channel" if self.per_channel else "per-tensor"
        if self.static:
            return f"static int8 (QDQ), {weights} weights, activation ranges by {self.method} calibration"
        return f"dynamic int8, {weights} weights" + (", fp32 embeddings" if self.fp32_embeddings else "")


# Tried in this order until one passes the accuracy gate. Per-channel keeps a scale per output
# column, which small models such as MiniLM need; one scale per tensor is the fallback. Last, int8
# everywhere but the embedding tables: a token's identity matters most to token classification,
# and MiniLM's NER lost 1.05 pt of entity F1 with int8 embeddings but 0.76 pt without, for a file
# of 59 MB instead of 23 (the fp32 model is 90).
INT8_SCHEMES = (Int8Scheme("per-channel", True), Int8Scheme("per-tensor", False),
                Int8Scheme("fp32-embeddings", True, fp32_embeddings=True))
# Static int8 is tried beside them, for every task, when there is a calibration sample: MinMax first,
# then the histogram methods while the one before failed the gate (they clip outliers MinMax keeps,
# at the cost of a slower calibration). For a conv net this is the int8 that pays: dynamic int8
# quantizes each conv's input at run time (ConvInteger), which cost the fine-tuned MobileNetV2 6.7
# points on digits and ran slower than fp32; calibrated QDQ keeps the convs int8 end to end.
STATIC_SCHEMES = (Int8Scheme("static", True, static=True),
                  Int8Scheme("static-percentile", True, static=True, method="Percentile"),
                  Int8Scheme("static-entropy", True, static=True, method="Entropy"))
# A transformer's static int8 quantizes its matrix products only: int8 Add, Softmax and LayerNorm
# inputs lose accuracy and gain nothing on CPU.
TRANSFORMER_STATIC_OPS = ["MatMul", "Gemm"]
METHOD_OPTIONS = {"Percentile": {"CalibPercentile": 99.999}}
EMBEDDING_OPS = ("Gather", "EmbedLayerNormalization")


def has_convolutions(path: Path) -> bool:
    return any(op == "Conv" for op, _, _ in graph_info(path).nodes)


def quantize_static_int8(src: Path, out: Path, reader, scheme: Int8Scheme, nodes_to_exclude=()) -> Path:
    """Writes `out`: int8 weights and activations as QDQ pairs, activation ranges measured on ``reader``
    (an onnxruntime CalibrationDataReader) by ``scheme.method``; ``nodes_to_exclude`` stay fp32."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    conv = has_convolutions(src)
    exclude = list(dict.fromkeys([*(first_and_last_layers(src) if conv else []), *nodes_to_exclude]))
    reader.rewind()
    with quiet():
        quantize_static(src, out, reader, quant_format=QuantFormat.QDQ, per_channel=scheme.per_channel,
                        weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                        op_types_to_quantize=None if conv else TRANSFORMER_STATIC_OPS,
                        nodes_to_exclude=exclude, calibrate_method=CalibrationMethod[scheme.method],
                        calibration_providers=["CPUExecutionProvider"],
                        extra_options=METHOD_OPTIONS.get(scheme.method, {}))
    return out


def first_and_last_layers(path: Path) -> list[str]:
    """The graph's first Conv and its classifier (Gemm/MatMul), kept in fp32: the usual int8 recipe for
    a conv net, and on the digits MobileNetV2 the difference between 2.8 points lost and 0.6."""
    nodes = graph_info(path).nodes
    convs = [name for op, name, _ in nodes if op == "Conv"]
    return convs[:1] + [name for op, name, _ in nodes if op in ("Gemm", "MatMul")][-1:]


def optimize(fp32: Path, level: str, out: Path) -> Path:
    """Writes `out`: the fp32 graph after onnxruntime's O1 (basic) or O2 (extended + transformer fusions) passes,
    its SkipLayerNormalization nodes split back into standard ops (layernorm.py: their CPU kernel is slow)."""
    from optimum.onnxruntime import AutoOptimizationConfig, ORTOptimizer

    from .layernorm import split_skip_layer_norms

    with tempfile.TemporaryDirectory(dir=out.parent) as tmp, quiet("optimum"):
        try:
            optimizer = ORTOptimizer.from_pretrained(fp32.parent, file_names=[fp32.name])
            config = AutoOptimizationConfig.with_optimization_level(level)
            optimizer.optimize(save_dir=tmp, optimization_config=config, file_suffix="")
        except (NotImplementedError, KeyError, ValueError) as e:
            raise ExportError(f"{level} optimization is not available for this model ({str(e).splitlines()[0][:160]})") from None
        shutil.move(Path(tmp) / fp32.name, out)
    split_skip_layer_norms(out)
    return out


def quantize_int8(src: Path, out: Path, scheme: Int8Scheme, nodes_to_exclude=()) -> Path:
    """Writes `out`: dynamic int8 weights (activations quantized at run time) by ``scheme``; ``nodes_to_exclude``
    stay fp32."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.registry import IntegerOpsRegistry

    ops = [op for op in IntegerOpsRegistry if op not in EMBEDDING_OPS] if scheme.fp32_embeddings else None
    with quiet():  # the quantizer warns about pre-processing through the root logger
        quantize_dynamic(src, out, per_channel=scheme.per_channel, weight_type=QuantType.QInt8,
                         op_types_to_quantize=ops, nodes_to_exclude=list(nodes_to_exclude),
                         extra_options={"DefaultTensorType": 1})  # FLOAT, for fused ops shape inference cannot type
    return out


def has_embedding_tables(path: Path) -> bool:
    """Whether the graph looks up rows of a weight table (a Gather on an initializer), which int8 would quantize."""
    graph = graph_info(path)
    return any(op in EMBEDDING_OPS and first in graph.weights for op, _, first in graph.nodes)
