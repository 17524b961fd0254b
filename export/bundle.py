"""The edge bundle folder: ONNX files, tokenizer, labels, manifest, recipe, report, README, predict.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .errors import ExportError
from .report import ExportReport

MANIFEST = "bundle.json"


def prepare_bundle_dir(output: Path) -> Path:
    """Creates `<output>/bundle`, replacing an earlier ftui bundle there; refuses foreign or unwritable folders."""
    bundle = Path(output) / "bundle"
    if bundle.exists() and any(bundle.iterdir()):
        if not (bundle / MANIFEST).is_file():
            raise ExportError(f"{bundle}: exists and is not an ftui bundle; choose another --output")
        shutil.rmtree(bundle, ignore_errors=True)
    try:
        bundle.mkdir(parents=True, exist_ok=True)
        probe = bundle / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise ExportError(f"{output}: cannot write the export there ({e.strerror or e})") from None
    return bundle


def write_manifest(bundle: Path, labels: list[str], max_length: int, models: dict[str, str],
                   default_model: str, opset: int, pad_token: str) -> None:
    """bundle.json (what the predictor needs besides labels) and labels.json (label names by class id)."""
    manifest = {"format": "ftui-onnx-bundle", "v": 1, "task": "sequence-classification",
                "max_length": max_length, "models": models, "default_model": default_model,
                "opset": opset, "pad_token": pad_token}
    (bundle / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    (bundle / "labels.json").write_text(json.dumps(labels, ensure_ascii=False) + "\n")


def finish_bundle(bundle: Path, report: ExportReport, recipe: Path | None) -> None:
    """Copies the recipe and the standalone predictor, writes the reports and the README."""
    if recipe is not None:
        shutil.copy2(recipe, bundle / "recipe.toml")
    shutil.copy2(Path(__file__).with_name("predictor.py"), bundle / "predict.py")
    (bundle / "report.json").write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")
    (bundle / "report.txt").write_text(report.to_text() + "\n")
    (bundle / "README.md").write_text(readme(report))


def readme(report: ExportReport) -> str:
    pt = 100 * report.pytorch.get("accuracy", 0)
    models = "\n".join(f"- `{v.file}`: {v.name}, {v.size_bytes / 1e6:.1f} MB, accuracy {100 * v.metrics['accuracy']:.2f}% "
                       f"(PyTorch {pt:.2f}%){'; ' + v.note if v.note else ''}" for v in report.variants)
    return f"""# ONNX bundle

Sequence classification, labels: {', '.join(report.labels)}. Exported by `ftui export` from
`{report.checkpoint}` and validated on {report.rows} real examples ({report.data});
{'all gates passed' if report.passed else 'FAILED gates: ' + ', '.join(report.failed_gates)}. See `report.txt`.

{models}

Default model for `predict.py` and `ftui predict`: `{report.default_model}`.

## Run it (needs only `pip install onnxruntime tokenizers numpy`)

    python predict.py "some text"                 # inside this folder
    python predict.py --file texts.txt --json     # one text a line; JSON with every label's score
    python predict.py --model model.onnx "text"   # pick another ONNX file of the bundle

From Python:

    from predict import Predictor
    Predictor("path/to/bundle").predict(["some text"])   # [{{"label", "score", "scores", "text"}}]

With ftui installed: `ftui predict path/to/bundle "some text"`.

With optimum: `ORTModelForSequenceClassification.from_pretrained("path/to/bundle", file_name="{report.default_model}")`
and `AutoTokenizer.from_pretrained("path/to/bundle")`.

Inputs are tokenized with `tokenizer.json`, truncated at {report.max_length} tokens and padded to
the longest text of a batch, exactly as during validation. The int8 model quantizes activations
per batch (dynamic quantization), so its logits shift slightly with what shares the batch;
validation ran it in length-sorted batches of 32.
"""
