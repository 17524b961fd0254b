"""PyTorch checkpoint -> fp32 ONNX through optimum's exporter, and what the graph declares.

optimum writes model.onnx beside config.json and the tokenizer files, the layout optimum's
ORTModelForSequenceClassification loads. Its own validation (random dummy inputs, warnings only)
is switched off: ftui validates on the real split instead (validate.py).
"""

from __future__ import annotations

import functools
import logging
import shutil
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import ExportError

# What the export traces with (optimum's DEFAULT_DUMMY_SHAPES); the shape check uses other sizes.
EXPORT_BATCH, EXPORT_SEQUENCE = 2, 16
PREPROCESSING_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
                       "merges.txt", "vocab.json", "sentencepiece.bpe.model", "spm.model", "added_tokens.json",
                       "preprocessor_config.json")


@dataclass(frozen=True)
class GraphInfo:
    """What an ONNX file declares: opset, inputs with their dims (a str dim is dynamic), outputs; and what
    the int8 choices read of it: each node's (op type, name, first input), and the weight names."""

    opset: int
    inputs: dict[str, list[int | str]]
    outputs: dict[str, list[int | str]]
    nodes: tuple[tuple[str, str, str], ...]
    weights: frozenset[str]


def export_onnx(model, checkpoint: Path, out_dir: Path, task: str = "text-classification") -> Path:
    """Exports a loaded model to out_dir/model.onnx for optimum's ``task`` (dynamic batch and sequence)."""
    from optimum.exporters.onnx import onnx_export_from_model

    try:
        with quiet("optimum"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's TracerWarnings about constants, expected for this trace
            onnx_export_from_model(model, out_dir, task=task, do_validation=False,
                                   batch_size=EXPORT_BATCH, sequence_length=EXPORT_SEQUENCE)
    except (ValueError, RuntimeError, KeyError) as e:
        raise ExportError(f"{checkpoint}: optimum could not export this model ({str(e).splitlines()[0][:200]})") from None
    copy_preprocessing(checkpoint, out_dir)
    return out_dir / "model.onnx"


def copy_preprocessing(checkpoint: Path, out_dir: Path) -> list[str]:
    """Copies the checkpoint's tokenizer / image-processor files over whatever the exporter re-saved, so
    the bundle ships byte for byte the preprocessing that validation used."""
    copied = []
    for name in PREPROCESSING_FILES:
        if (checkpoint / name).is_file():
            shutil.copy2(checkpoint / name, out_dir / name)
            copied.append(name)
    return copied


def graph_info(path: Path) -> GraphInfo:
    """Reads the graph without loading external weights, once per version of the file (an export asks
    several times; each parse of MiniLM's 90 MB graph takes about 0.2 s)."""
    stat = Path(path).stat()
    return _parse_graph(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _parse_graph(path: str, _mtime_ns: int, _size: int) -> GraphInfo:
    import onnx

    proto = onnx.load(path, load_external_data=False)
    graph = proto.graph
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)

    def dims(values):
        return {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in values}

    return GraphInfo(opset, dims(graph.input), dims(graph.output),
                     tuple((n.op_type, n.name, n.input[0] if n.input else "") for n in graph.node),
                     frozenset(init.name for init in graph.initializer))


def session_static_axes(session) -> list[str]:
    """Input axes (batch, sequence) of the file an onnxruntime session loaded that were frozen to a number
    (an edge model needs none), read from the session."""
    return [f"{i.name}[{k}]" for i in session.get_inputs() for k, d in enumerate(i.shape[:2]) if isinstance(d, int)]


@contextmanager
def quiet(name: str | None = None):
    """Raises a library logger to ERROR for a block (optimum and the quantizer chat on INFO/WARNING)."""
    logger = logging.getLogger(name)
    old = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(old)
