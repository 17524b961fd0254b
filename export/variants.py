"""The optional ONNX variants: onnxruntime graph optimization (through optimum) and dynamic int8.

Each variant is a separate file in the bundle and is validated exactly like fp32 (pipeline.py).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .convert import quiet
from .errors import ExportError


@dataclass(frozen=True)
class Int8Scheme:
    """One way to quantize: a scale per output column or per tensor, embeddings int8 or left in fp32."""

    name: str  # in the report and the scheme's file name
    per_channel: bool
    fp32_embeddings: bool = False
    static: bool = False  # activations quantized with ranges calibrated on real inputs (QDQ), not at run time

    def describe(self) -> str:
        weights = "per-channel" if self.per_channel else "per-tensor"
        if self.static:
            return (f"static int8 (QDQ), {weights} weights, activations calibrated on up to {CALIBRATION_IMAGES} "
                    "validation images; first conv and classifier fp32")
        return f"dynamic int8, {weights} weights" + (", fp32 embeddings" if self.fp32_embeddings else "")


# Tried in this order until one passes the accuracy gate. Per-channel keeps a scale per output
# column, which small models such as MiniLM need; one scale per tensor is the fallback. Last, int8
# everywhere but the embedding tables: a token's identity matters most to token classification,
# and MiniLM's NER lost 1.05 pt of entity F1 with int8 embeddings but 0.76 pt without, for a file
# of 59 MB instead of 23 (the fp32 model is 90).
INT8_SCHEMES = (Int8Scheme("per-channel", True), Int8Scheme("per-tensor", False),
                Int8Scheme("fp32-embeddings", True, fp32_embeddings=True))
# A conv net tries static int8 first: dynamic int8 quantizes each conv's input at run time
# (ConvInteger), which cost the fine-tuned MobileNetV2 6.7 points on digits and ran slower than
# fp32; calibrated QDQ keeps the convs int8 end to end (benchmarks/task_image.py).
STATIC_INT8 = Int8Scheme("static", True, static=True)
CALIBRATION_IMAGES = 128
EMBEDDING_OPS = ("Gather", "EmbedLayerNormalization")


def int8_schemes(fp32: Path) -> tuple[Int8Scheme, ...]:
    """The schemes to try for this graph, in order."""
    return ((STATIC_INT8,) if has_convolutions(fp32) else ()) + INT8_SCHEMES


def has_convolutions(path: Path) -> bool:
    import onnx

    return any(node.op_type == "Conv" for node in onnx.load(str(path), load_external_data=False).graph.node)


def quantize_static_int8(src: Path, out: Path, batches: list[dict]) -> Path:
    """Writes `out`: int8 weights and activations as QDQ pairs, activation ranges from ``batches`` (min/max)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.rows = iter(batches)

        def get_next(self):
            return next(self.rows, None)

    with quiet():
        quantize_static(src, out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                        nodes_to_exclude=first_and_last_layers(src))
    return out


def first_and_last_layers(path: Path) -> list[str]:
    """The graph's first Conv and its classifier (Gemm/MatMul), kept in fp32: the usual int8 recipe for
    a conv net, and on the digits MobileNetV2 the difference between 2.8 points lost and 0.6."""
    import onnx

    nodes = onnx.load(str(path), load_external_data=False).graph.node
    convs = [n.name for n in nodes if n.op_type == "Conv"]
    return convs[:1] + [n.name for n in nodes if n.op_type in ("Gemm", "MatMul")][-1:]


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


def quantize_int8(src: Path, out: Path, scheme: Int8Scheme) -> Path:
    """Writes `out`: dynamic int8 weights (activations quantized at run time) by ``scheme``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.registry import IntegerOpsRegistry

    ops = [op for op in IntegerOpsRegistry if op not in EMBEDDING_OPS] if scheme.fp32_embeddings else None
    with quiet():  # the quantizer warns about pre-processing through the root logger
        quantize_dynamic(src, out, per_channel=scheme.per_channel, weight_type=QuantType.QInt8,
                         op_types_to_quantize=ops,
                         extra_options={"DefaultTensorType": 1})  # FLOAT, for fused ops shape inference cannot type
    return out


def has_embedding_tables(path: Path) -> bool:
    """Whether the graph looks up rows of a weight table (a Gather on an initializer), which int8 would quantize."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    weights = {init.name for init in graph.initializer}
    return any(node.op_type in EMBEDDING_OPS and node.input and node.input[0] in weights for node in graph.node)
