"""Accuracy-aware fallback: when int8 fails the gate, give its costliest blocks back to fp32, a group at a time.

A block is a transformer layer, the embeddings, a conv stage or the classifier: the prefix of a
node's name up to its first numbered part (optimum names nodes by module path, e.g.
``/bert/encoder/layer.3/attention/self/query/MatMul``). Blocks are ranked once, on the calibration
sample, by onnxruntime's qdq_loss_debug: the signal-to-quantization-noise ratio (dB) of each
quantized tensor's values before and after its Quantize/Dequantize pair, and of each int8 weight
against its fp32 original; a block scores its worst tensor. Step k keeps the k worst blocks in fp32,
re-quantizes with the scheme that came closest and validates like any variant, until the gate passes
or the budget of attempts is spent. Without a calibration sample there is no static file to score,
and blocks go back in graph order (sqnr_db null in the report).
"""

from __future__ import annotations

import math
import re
import tempfile
from collections import defaultdict
from pathlib import Path

from .convert import quiet

QUANTIZED_OPS = ("MatMul", "Gemm", "Conv", "Gather", "EmbedLayerNormalization", "Attention")
NUMBERED = re.compile(r"^[A-Za-z_]+[._]\d+$")  # layer.3, layer_3, stage.0, blocks.11
RANKING_BATCHES = 2  # the activation ranking runs two calibration batches: enough to order blocks


def block_of(node_name: str) -> str:
    """The block a node belongs to: its name's path up to the first numbered part, else its top two parts."""
    parts = [p for p in node_name.split("/") if p]
    for i, part in enumerate(parts[:-1]):
        if NUMBERED.match(part):
            return "/".join(parts[:i + 1])
    return "/".join(parts[:2]) if len(parts) > 2 else (parts[0] if parts else node_name)


def quantizable_blocks(fp32: Path) -> dict[str, list[str]]:
    """Block -> the names of its nodes int8 can quantize, in graph order."""
    from .convert import graph_info

    blocks: dict[str, list[str]] = defaultdict(list)
    for op, name, _ in graph_info(fp32).nodes:
        if op in QUANTIZED_OPS and name:
            blocks[block_of(name)].append(name)
    return dict(blocks)


def rank_blocks(fp32: Path, qdq: Path | None, reader=None) -> list[dict]:
    """[{"block", "sqnr_db", "nodes"}], worst (lowest SQNR) first. ``qdq`` is a static int8 file of the
    same graph; ``reader`` a CalibrationReader over the calibration sample (None: weights only)."""
    import onnx

    blocks = quantizable_blocks(fp32)
    graph = onnx.load(str(fp32), load_external_data=False).graph
    tensor_nodes = _tensor_to_nodes(graph)
    worst: dict[str, float] = {}
    errors = {**(_weight_errors(fp32, qdq) if qdq else {}),
              **(_activation_errors(qdq, reader) if qdq and reader is not None else {})}
    for tensor, db in errors.items():
        for node in tensor_nodes.get(tensor, ()):
            block = block_of(node)
            if block in blocks and math.isfinite(db):
                worst[block] = min(worst.get(block, math.inf), db)
    ranked = sorted(blocks, key=lambda b: (worst.get(b, math.inf), list(blocks).index(b)))
    return [{"block": b, "sqnr_db": round(worst[b], 2) if b in worst else None, "nodes": blocks[b]} for b in ranked]


def _tensor_to_nodes(graph) -> dict[str, list[str]]:
    """Tensor name -> the quantizable nodes that read it (where its quantization error enters)."""
    out: dict[str, list[str]] = defaultdict(list)
    for node in graph.node:
        if node.op_type in QUANTIZED_OPS:
            for name in node.input:
                out[name].append(node.name)
    return out


def _weight_errors(fp32: Path, qdq: Path) -> dict[str, float]:
    from onnxruntime.quantization.qdq_loss_debug import compute_weight_error, create_weight_matching

    with quiet():
        return compute_weight_error(create_weight_matching(str(fp32), str(qdq)))


def _activation_errors(qdq: Path, reader) -> dict[str, float]:
    """Each quantized activation's SQNR before vs after its Q/DQ pair, over the first calibration batches."""
    from onnxruntime.quantization.qdq_loss_debug import (collect_activations, compute_signal_to_quantization_noice_ratio,
                                                         create_activation_matching,
                                                         modify_model_output_intermediate_tensors)

    reader.rewind()
    batches = [b for _, b in zip(range(RANKING_BATCHES), reader)]
    with tempfile.TemporaryDirectory(dir=qdq.parent) as tmp, quiet():
        augmented = Path(tmp) / "augmented.onnx"
        modify_model_output_intermediate_tensors(str(qdq), str(augmented),
                                                 op_types_for_saving=["QuantizeLinear", "DequantizeLinear"])
        matched = create_activation_matching(collect_activations(str(augmented), iter(batches)))
    return {name: compute_signal_to_quantization_noice_ratio(m["pre_qdq"], m["post_qdq"])
            for name, m in matched.items() if m.get("pre_qdq") and m.get("post_qdq")}
