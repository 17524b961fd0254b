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


def write_manifest(bundle: Path, labels: list[str], models: dict[str, str], default_model: str, opset: int,
                   task_keys: dict) -> None:
    """bundle.json (what the predictor needs besides labels: the task and its preprocessing keys) and
    labels.json (label names by class id)."""
    manifest = {"format": "ftui-onnx-bundle", "v": 1, "task": "sequence-classification",
                "models": models, "default_model": default_model, "opset": opset, **task_keys}
    (bundle / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    (bundle / "labels.json").write_text(json.dumps(labels, ensure_ascii=False) + "\n")


def finish_bundle(bundle: Path, report: ExportReport, recipe: Path | None, task) -> None:
    """Copies the recipe and the task's standalone predictor, writes the reports and the README."""
    if recipe is not None:
        shutil.copy2(recipe, bundle / "recipe.toml")
    shutil.copy2(Path(__file__).with_name(task.predictor_module), bundle / "predict.py")
    for module in task.support_modules:
        shutil.copy2(Path(__file__).with_name(module), bundle / module)
    (bundle / "report.json").write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")
    (bundle / "report.txt").write_text(report.to_text() + "\n")
    (bundle / "README.md").write_text(readme(report, task.readme_usage(report)))


def readme(report: ExportReport, usage: str) -> str:
    primary = report.primary_metric
    pt = 100 * report.pytorch.get(primary, 0)
    models = "\n".join(f"- `{v.file}`: {v.name}, {v.size_bytes / 1e6:.1f} MB, {primary} {100 * v.metrics[primary]:.2f}% "
                       f"(PyTorch {pt:.2f}%){'; ' + v.note if v.note else ''}" for v in report.variants)
    return f"""# ONNX bundle

{report.task.replace('-', ' ').capitalize()}, labels: {', '.join(report.labels)}. Exported by `ftui export` from
`{report.checkpoint}` and validated on {report.rows} real examples ({report.data});
{'all gates passed' if report.passed else 'FAILED gates: ' + ', '.join(report.failed_gates)}. See `report.txt`.

{models}

Default model for `predict.py` and `ftui predict`: `{report.default_model}`.

{usage}"""
