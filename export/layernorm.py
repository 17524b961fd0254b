"""SkipLayerNormalization split back into Add + LayerNormalization, and sessions that keep it split.

onnxruntime's transformer optimizer (the O2 graph, which dynamic int8 quantizes) fuses each residual
``Add`` and the ``LayerNormalization`` after it into one contrib op, SkipLayerNormalization. Its CPU
kernel (onnxruntime 1.32, contrib_ops/cpu/skip_layer_norm.cc) is a scalar loop; the standard
LayerNormalization kernel on the same [1, 128, 384] tensor, Add included, is 3x faster on 2
threads and 6x on one (`benchmarks/layernorm_kernels.py`). In MiniLM's int8 graph the 12 fused
nodes were 27% of a batch-1 call; split, the int8 model is about 20% faster. So the fused graph
is rewritten with the standard ops (same arithmetic: x + skip (+ bias), then layer norm with the
same gamma, beta and epsilon), and every session ftui opens disables the session-level fusion
that would put SkipLayerNormalization back (predictor.NO_SKIP_LAYER_NORM_FUSION, in
open_session, which bundles carry as predict.py).
"""

from __future__ import annotations

from pathlib import Path

SKIP_LAYER_NORM = "SkipLayerNormalization"
LAYER_NORM_OPSET = 17  # LayerNormalization entered the default ONNX domain at opset 17


def split_skip_layer_norms(path: Path) -> int:
    """Rewrites the ONNX file at ``path`` in place with each SkipLayerNormalization as Add (+ Add of its
    bias) + LayerNormalization; returns how many were split. A graph below opset 17, or one whose
    fused nodes hand out their mean or inverse deviation (training graphs), is left as it is (0)."""
    import onnx

    model = onnx.load(str(path))
    if not _splittable(model):
        return 0
    nodes, split = [], 0
    for node in model.graph.node:
        if _is_fused(node):
            nodes.extend(_as_standard_ops(node))
            split += 1
        else:
            nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.save(model, str(path))
    return split


def _is_fused(node) -> bool:
    return node.op_type == SKIP_LAYER_NORM and node.domain == "com.microsoft"


def _splittable(model) -> bool:
    fused = [n for n in model.graph.node if _is_fused(n)]
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    hands_out_statistics = any(any(n.output[1:3]) for n in fused)
    return bool(fused) and opset >= LAYER_NORM_OPSET and not hands_out_statistics


def _as_standard_ops(node) -> list:
    """SkipLayerNormalization(input, skip, gamma[, beta[, bias]]) -> [output, _, _, input+skip+bias] as
    Add(input, skip), Add(that, bias), LayerNormalization(sum, gamma, beta) over the last axis."""
    from onnx import helper

    x, skip, gamma = node.input[:3]
    beta = node.input[3] if len(node.input) > 3 else ""
    bias = node.input[4] if len(node.input) > 4 else ""
    epsilon = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-12)
    total = node.output[3] if len(node.output) > 3 and node.output[3] else f"{node.name}_sum"
    ops = []
    if bias:  # input + skip first, then the bias: the order onnxruntime's session fusion does not match
        ops.append(helper.make_node("Add", [x, skip], [f"{node.name}_residual"], name=f"{node.name}_add_skip"))
        ops.append(helper.make_node("Add", [f"{node.name}_residual", bias], [total], name=f"{node.name}_add_bias"))
    else:
        ops.append(helper.make_node("Add", [x, skip], [total], name=f"{node.name}_add_skip"))
    inputs = [total, gamma] + ([beta] if beta else [])
    ops.append(helper.make_node("LayerNormalization", inputs, [node.output[0]], name=f"{node.name}_layer_norm",
                                axis=-1, epsilon=epsilon))
    return ops
