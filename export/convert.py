"""PyTorch checkpoint -> fp32 ONNX through optimum's exporter, and what the graph declares.

optimum writes model.onnx beside config.json and the tokenizer files, the layout optimum's
ORTModelForSequenceClassification loads. Its own validation (random dummy inputs, warnings only)
is switched off: ftui validates on the real split instead (validate.py).
"""

from __future__ import annotations

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
    """What an ONNX file declares: opset, inputs with their dims (a str dim is dynamic), outputs."""

    opset: int
    inputs: dict[str, list[int | str]]
    outputs: dict[str, list[int | str]]

    def static_axes(self) -> list[str]:
        """Input axes (batch, sequence) that were frozen to a number; an edge model needs none."""
        return [f"{name}[{i}]" for name, dims in self.inputs.items()
                for i, d in enumerate(dims[:2]) if not isinstance(d, str)]


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
    """Reads opset and input/output dims without loading the weights."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)

    def dims(values):
        return {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in values}

    return GraphInfo(opset, dims(proto.graph.input), dims(proto.graph.output))


def session_static_axes(session) -> list[str]:
    """GraphInfo.static_axes of the file an onnxruntime session loaded, from the session (no second parse)."""
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
