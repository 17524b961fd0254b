"""SkipLayerNormalization split into Add + LayerNormalization (export/layernorm.py): same answers, and
sessions that open_session makes keep it split."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from ftui.export.layernorm import split_skip_layer_norms
from ftui.export.predictor import NO_SKIP_LAYER_NORM_FUSION, open_session


def skip_layer_norm_model(hidden: int, bias: bool, beta: bool, sum_output: bool, opset: int = 18,
                          epsilon: float = 1e-12, seed: int = 0) -> onnx.ModelProto:
    """y = SkipLayerNormalization(x, skip, gamma[, beta[, bias]]); with ``sum_output`` its 4th output too."""
    rng = np.random.default_rng(seed)
    weights = {"gamma": rng.normal(1, 0.3, hidden), "beta": rng.normal(0, 0.3, hidden), "bias": rng.normal(0, 1, hidden)}
    inputs = ["x", "skip", "gamma", "beta" if beta or bias else "", "bias" if bias else ""]
    while inputs[-1] == "":
        inputs.pop()
    outputs = ["y", "", "", "total"] if sum_output else ["y"]
    node = helper.make_node("SkipLayerNormalization", inputs, outputs, name="sln", domain="com.microsoft",
                            epsilon=epsilon)
    shape = ["batch", "sequence", hidden]
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("x", "skip")],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in outputs if n],
        [numpy_helper.from_array(weights[n].astype(np.float32), n) for n in inputs[2:] if n])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    return model


def run(path, feeds) -> list[np.ndarray]:
    return open_session(path, threads=1).run(None, feeds)


@settings(max_examples=25, deadline=None)
@given(hidden=st.integers(2, 48), batch=st.integers(1, 3), sequence=st.integers(1, 9), bias=st.booleans(),
       beta=st.booleans(), sum_output=st.booleans(), epsilon=st.sampled_from([1e-12, 1e-5, 0.1]),
       scale=st.sampled_from([1e-3, 1.0, 30.0]), seed=st.integers(0, 2**16))
def test_the_split_graph_gives_the_fused_graphs_outputs(tmp_path_factory, hidden, batch, sequence, bias, beta,
                                                        sum_output, epsilon, scale, seed):
    folder = tmp_path_factory.mktemp("split")
    fused, split = folder / "fused.onnx", folder / "split.onnx"
    onnx.save(skip_layer_norm_model(hidden, bias, beta, sum_output, epsilon=epsilon, seed=seed), fused)
    onnx.save(onnx.load(fused), split)
    assert split_skip_layer_norms(split) == 1
    ops = [n.op_type for n in onnx.load(split).graph.node]
    assert ops == ["Add"] * (2 if bias else 1) + ["LayerNormalization"]
    rng = np.random.default_rng(seed)
    feeds = {n: (scale * rng.normal(size=(batch, sequence, hidden))).astype(np.float32) for n in ("x", "skip")}
    for want, got in zip(run(fused, feeds), run(split, feeds), strict=True):
        # The fused kernel takes the variance as E[x^2] - mean^2: equal up to float32 rounding.
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("why", ["opset 16", "statistics output"])
def test_graphs_the_split_cannot_serve_are_left_as_they_are(tmp_path, why):
    model = skip_layer_norm_model(8, bias=True, beta=True, sum_output=False, opset=16 if why == "opset 16" else 18)
    if why == "statistics output":
        model.graph.node[0].output[:] = ["y", "mean"]
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    before = path.read_bytes()
    assert split_skip_layer_norms(path) == 0
    assert path.read_bytes() == before


def add_then_layer_norm(path, hidden: int = 16) -> None:
    """Add(x, skip) -> LayerNormalization: the pattern onnxruntime's session fuses into SkipLayerNormalization."""
    shape = [1, 4, hidden]
    nodes = [helper.make_node("Add", ["x", "skip"], ["total"]),
             helper.make_node("LayerNormalization", ["total", "gamma", "beta"], ["y"], axis=-1, epsilon=1e-12)]
    weights = [numpy_helper.from_array(np.full(hidden, v, np.float32), n) for n, v in (("gamma", 1.0), ("beta", 0.0))]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("x", "skip")],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.save(model, path)


@pytest.mark.parametrize("disabled", [None, NO_SKIP_LAYER_NORM_FUSION])
def test_the_disabled_optimizer_is_the_one_that_fuses_add_and_layer_norm(tmp_path, disabled):
    """The name ftui passes is onnxruntime's: without it the session's graph has SkipLayerNormalization."""
    add_then_layer_norm(tmp_path / "m.onnx")
    opts = ort.SessionOptions()
    opts.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    kwargs = {"disabled_optimizers": disabled} if disabled else {}
    ort.InferenceSession(str(tmp_path / "m.onnx"), opts, providers=["CPUExecutionProvider"], **kwargs)
    ops = {n.op_type for n in onnx.load(tmp_path / "optimized.onnx").graph.node}
    assert ("SkipLayerNormalization" in ops) == (disabled is None), ops


def test_open_session_runs_layer_norm_not_the_fused_kernel(tmp_path, monkeypatch):
    """open_session's sessions (ftui predict, validation, benchmarks, a bundle's predict.py) keep the split."""
    add_then_layer_norm(tmp_path / "m.onnx")
    real = ort.SessionOptions

    def options_that_save_the_optimized_graph():
        opts = real()
        opts.optimized_model_filepath = str(tmp_path / "optimized.onnx")
        return opts

    monkeypatch.setattr(ort, "SessionOptions", options_that_save_the_optimized_graph)
    open_session(tmp_path / "m.onnx", threads=1)
    ops = {n.op_type for n in onnx.load(tmp_path / "optimized.onnx").graph.node}
    assert "LayerNormalization" in ops and "SkipLayerNormalization" not in ops, ops
