"""Label texts with an ftui export bundle, using only onnxruntime, tokenizers and numpy.

No torch, no transformers: this file is copied into every bundle as `predict.py`, so on an edge
box `python predict.py "some text"` (run inside the bundle folder) or

    from predict import Predictor
    Predictor("path/to/bundle").predict(["some text"])

is all it takes. `ftui predict` uses the same class.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort

if TYPE_CHECKING:
    from tokenizers import Tokenizer

MANIFEST = "bundle.json"
# onnxruntime's session-level fusion back into SkipLayerNormalization, whose CPU kernel is 3-6x slower
# than Add + LayerNormalization (ftui's export/layernorm.py splits the fused graphs' nodes).
NO_SKIP_LAYER_NORM_FUSION = ["SkipLayerNormFusion"]


try:  # inside ftui, one error root; a bundle copied to an edge box runs without ftui installed
    from ftui.rundir.errors import FtuiError as _ErrorRoot
except ImportError:
    class _ErrorRoot(Exception):
        exit_code = 2


class PredictorError(_ErrorRoot, ValueError):
    """Bad bundle or bad input; `exit_code` makes the ftui CLI print one line instead of a traceback."""

    exit_code = 2


def load_tokenizer(path: Path, max_length: int, pad_token: str = "[PAD]") -> Tokenizer:
    """The bundle's fast tokenizer, truncating at `max_length` and padding to the longest text in a batch.

    Export validation feeds exactly these ids to PyTorch and onnxruntime, so what it proves holds here.
    """
    from tokenizers import Tokenizer  # here, not at the top: image bundles import this module without tokenizers

    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as e:  # tokenizers raises a bare Exception on a bad file
        raise PredictorError(f"{path}: not a valid tokenizer.json ({_first_line(e)})") from None
    pad_id = tok.token_to_id(pad_token)
    if pad_id is None:  # no such token: keep whatever padding the file itself declares
        pad = tok.padding or {}
        pad_id, pad_token = pad.get("pad_id", 0), pad.get("pad_token", pad_token)
    tok.enable_truncation(max_length=max_length)
    tok.enable_padding(pad_id=pad_id, pad_token=pad_token)
    return tok


class Predictor:
    """One ONNX model of a bundle, its tokenizer and labels."""

    def __init__(self, bundle: str | Path, model: str | None = None, threads: int | None = None):
        self.bundle = Path(bundle)
        manifest = read_manifest(self.bundle, "max_length")
        self.labels: list[str] = manifest["labels"]
        self.max_length: int = int(manifest["max_length"])
        self.model_path = model_file(self.bundle, manifest, model)
        self.tokenizer = load_tokenizer(self.bundle / "tokenizer.json", self.max_length,
                                        manifest.get("pad_token", "[PAD]"))
        self.session = open_session(self.model_path, threads)
        self.input_names = [i.name for i in self.session.get_inputs()]

    def encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        return encode_texts(self.tokenizer, texts, self.input_names)

    def logits(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Raw logits, (len(texts), n_labels)."""
        out = [self.session.run(None, self.encode(texts[i:i + batch_size]))[0]
               for i in range(0, len(texts), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)), np.float32)

    def predict(self, texts: list[str], batch_size: int = 32) -> list[dict]:
        """For each text: its label, that label's probability, and every label's probability."""
        for t in texts:
            if not t or not t.strip():
                raise PredictorError("empty input text: nothing to label")
        probs = softmax(self.logits(texts, batch_size))
        return [{"text": t, "label": self.labels[int(p.argmax())], "score": float(p.max()),
                 "scores": {name: float(v) for name, v in zip(self.labels, p)}} for t, p in zip(texts, probs)]


def encode_texts(tokenizer: Tokenizer, texts: list[str], input_names: list[str]) -> dict[str, np.ndarray]:
    """Token ids, attention mask (and token type ids when the model takes them) as int64 arrays."""
    enc = tokenizer.encode_batch(list(texts))
    arrays = {
        "input_ids": lambda: np.array([e.ids for e in enc], dtype=np.int64),
        "attention_mask": lambda: np.array([e.attention_mask for e in enc], dtype=np.int64),
        "token_type_ids": lambda: np.array([e.type_ids for e in enc], dtype=np.int64),
    }
    unknown = [n for n in input_names if n not in arrays]
    if unknown:
        raise PredictorError(f"the model wants inputs this predictor cannot make: {unknown}")
    return {name: arrays[name]() for name in input_names}


def model_file(bundle: Path, manifest: dict, model: str | None = None) -> Path:
    """The ONNX file to load: ``model`` as a variant of bundle.json's models map (fp32, O2, int8) or as a
    path inside the bundle, else the default model. Paths are read as bundle.json writes them, so bundles
    with flat files (model.int8.onnx, before the onnx/ folder) load as before."""
    models = manifest.get("models") if isinstance(manifest.get("models"), dict) else {}
    path = bundle / models.get(model, model or manifest["default_model"])
    if not path.is_file() and models:
        have = ", ".join(f"{name} ({file})" for name, file in models.items())
        raise PredictorError(f"{path}: no such ONNX model; this bundle has {have}")
    return path


def open_session(path: Path, threads: int | None = None) -> ort.InferenceSession:
    """A CPU onnxruntime session; a missing or corrupt file is a one-line PredictorError."""
    if not Path(path).is_file():
        raise PredictorError(f"{path}: no such ONNX model")
    opts = ort.SessionOptions()
    # Attention masks push softmax inputs to -3.4e38; exp() of those yields denormals, which x86
    # computes ~10x slower. Flushing them to zero changes no logit visibly (export validation checks)
    # and makes padded batches about 1.5x (fp32) to 2x (int8) faster.
    opts.add_session_config_entry("session.set_denormal_as_zero", "1")
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"],
                                    disabled_optimizers=NO_SKIP_LAYER_NORM_FUSION)
    except Exception as e:  # onnxruntime raises its own Fail/InvalidProtobuf types
        raise PredictorError(f"{path}: not a valid ONNX model ({_first_line(e)})") from None


def softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def read_texts(texts: list[str], file: str | None) -> list[str]:
    """Texts from the command line, or one a line from `file` ('-' = stdin; blank lines skipped)."""
    return read_inputs(texts, file, "empty input text: give texts as arguments or --file FILE")


def read_inputs(inputs: list[str], file: str | None, none_message: str, strip: bool = False) -> list[str]:
    """``inputs`` and the non-blank lines of ``file`` ('-' = stdin); none at all is a PredictorError."""
    if file:
        lines = read_text_lines(file)
        inputs = list(inputs) + [line.strip() if strip else line for line in lines if line.strip()]
    if not inputs:
        raise PredictorError(none_message)
    return inputs


def read_text_lines(file: str) -> list[str]:
    """The lines of a UTF-8 text file ('-' = stdin). Bytes that are not UTF-8 text (an image, a
    UTF-16 file) or a NUL byte are a PredictorError naming the file and line, never inputs."""
    try:
        if file == "-":
            stdin = getattr(sys.stdin, "buffer", None)
            data = stdin.read() if stdin is not None else sys.stdin.read().encode("utf-8", "surrogateescape")
        else:
            data = Path(file).read_bytes()
    except OSError as e:
        raise PredictorError(f"{file}: cannot read ({e.strerror or e})") from None
    name = "stdin" if file == "-" else file
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise PredictorError(f"{name}: line {line}: not UTF-8 text (byte "
                             f"0x{data[e.start]:02x}); --file takes a text file, one input a line") from None
    if "\0" in text:
        line = text.count("\n", 0, text.index("\0")) + 1
        raise PredictorError(f"{name}: line {line}: a NUL byte, so not a text file; "
                             "--file takes a text file, one input a line")
    return text.removeprefix("\ufeff").splitlines()


def format_result(result: dict, as_json: bool) -> str:
    """One output line: `label<TAB>score<TAB>text`, or a JSON object with all scores."""
    if as_json:
        return json.dumps(result, ensure_ascii=False)
    return f"{result['label']}\t{result['score']:.3f}\t{result['text']}"


def _read_manifest(bundle: Path) -> dict:
    if not bundle.is_dir():
        raise PredictorError(f"{bundle}: no such bundle folder")
    try:
        manifest = json.loads((bundle / MANIFEST).read_text())
        manifest["labels"] = json.loads((bundle / "labels.json").read_text())
    except FileNotFoundError as e:
        raise PredictorError(f"{bundle}: not an ftui export bundle (no {Path(e.filename).name})") from None
    except ValueError as e:
        raise PredictorError(f"{bundle}: unreadable bundle manifest ({e})") from None
    if not isinstance(manifest["labels"], list) or "default_model" not in manifest:
        raise PredictorError(f"{bundle}: bundle manifest lacks labels or default_model")
    return manifest


def read_manifest(bundle: Path, *required: str) -> dict:
    """bundle.json with labels.json's labels; a missing ``required`` key is a one-line PredictorError."""
    manifest = _read_manifest(Path(bundle))
    missing = [k for k in required if k not in manifest]
    if missing:
        raise PredictorError(f"{bundle}: bundle manifest lacks {', '.join(missing)}")
    return manifest


def run_cli(bundle: str, inputs: list[str], file: str | None, as_json: bool) -> int:
    """`ftui predict` for a text-classification bundle: one line per text."""
    inputs = read_texts(inputs, file)  # bad input before the model loads
    for result in Predictor(bundle).predict(inputs):
        print(format_result(result, as_json))
    return 0


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__


class OneLineParser(argparse.ArgumentParser):
    """Usage errors in one line, `predict.py: --bogus: ... (predict.py --help)`, exit 2."""

    def error(self, message: str):
        message = " ".join(message.split()).removeprefix("argument ")
        print(f"{self.prog}: {message} ({self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def cli_main(argv, default_bundle, make_predictor, read_inputs, format_line, description: str,
             inputs: str = "texts") -> int:
    """The standalone command line every bundle's predict.py has:
    `python predict.py [--bundle DIR] [--model FILE] [--json] inputs... | --file F`."""
    p = OneLineParser(description=description)
    p.add_argument("inputs", nargs="*", metavar=inputs)
    p.add_argument("--bundle", default=str(default_bundle or Path.cwd()), help="bundle folder")
    p.add_argument("--model", help="a variant (fp32, O2, int8) or ONNX file of the bundle (default: the bundle's chosen one)")
    p.add_argument("--file", help=f"{inputs} one a line ('-' for stdin)")
    p.add_argument("--json", action="store_true", help="JSON lines with every score")
    args = p.parse_args(argv)
    try:
        inputs = read_inputs(args.inputs, args.file)  # bad input before the model loads
        results = make_predictor(args.bundle, args.model).predict(inputs)
    except PredictorError as e:
        print(f"predict: {e}", file=sys.stderr)
        return e.exit_code
    for r in results:
        print(format_line(r, args.json))
    return 0


def main(argv: list[str] | None = None, default_bundle: Path | None = None) -> int:
    return cli_main(argv, default_bundle, Predictor, read_texts, format_result,
                    "Label texts with an ftui ONNX bundle (onnxruntime only).")


if __name__ == "__main__":
    sys.exit(main(default_bundle=Path(__file__).resolve().parent))
