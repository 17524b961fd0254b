"""The edge bundle folder: ONNX files, tokenizer, labels, manifest, recipe, report, README, predict.py."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ftui.rundir.tasks import DEFAULT_TASK

from .errors import ExportError
from .report import ExportReport

MANIFEST = "bundle.json"
ONNX_FOLDER = "onnx"
# transformers.js picks a file by dtype: "fp32" loads onnx/model.onnx, "q8" onnx/model_quantized.onnx.
# Other variants go beside them as onnx/model_<variant>.onnx (its `model_file_name` option).
JS_FILE_NAMES = {"fp32": "model.onnx", "int8": "model_quantized.onnx"}
TOKENIZER_CONFIG = "tokenizer_config.json"


STAGING = ".bundle.partial-"  # + pid: where an export writes until it is complete
REPLACED = ".bundle.old-"  # + pid: the previous bundle, for the moment between two renames


def prepare_bundle_dir(output: Path) -> tuple[Path, Path]:
    """(``<output>/bundle``, an empty staging folder beside it).

    The export writes into the staging folder and `publish_bundle` renames it into place at the end,
    so an export that fails, is cancelled or is killed leaves the previous bundle as it was. Refuses a
    ``bundle`` folder that is not an ftui bundle, or an output it cannot write, before any work.
    """
    output = Path(output)
    bundle = output / "bundle"
    if bundle.exists() and not (bundle.is_dir() and (not any(bundle.iterdir()) or (bundle / MANIFEST).is_file())):
        raise ExportError(f"{bundle}: exists and is not an ftui bundle; choose another --output")
    staging = output / f"{STAGING}{os.getpid()}"
    try:
        output.mkdir(parents=True, exist_ok=True)
        clean_leftovers(output, bundle)
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
    except OSError as e:
        raise ExportError(f"{output}: cannot write the export there ({e.strerror or e})") from None
    return bundle, staging


def publish_bundle(staging: Path, bundle: Path) -> None:
    """Puts the finished staging folder at ``bundle``, replacing an earlier bundle there."""
    replaced = bundle.with_name(f"{REPLACED}{os.getpid()}")
    if bundle.exists():
        shutil.rmtree(replaced, ignore_errors=True)
        bundle.rename(replaced)
    staging.rename(bundle)
    shutil.rmtree(replaced, ignore_errors=True)


def discard_staging(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def clean_leftovers(output: Path, bundle: Path) -> None:
    """Removes staging folders of exports that died; puts back a bundle a dying export had moved aside."""
    for path in sorted(output.glob(".bundle.*-*")):
        kind, _, pid = path.name.rpartition("-")
        if not pid.isdigit() or _alive(int(pid)):
            continue
        if f"{kind}-" == REPLACED and not bundle.exists():
            path.rename(bundle)
        elif f"{kind}-" in (STAGING, REPLACED):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    """Whether another process with this pid runs; this process's own leftovers are from an earlier export."""
    import psutil

    return pid != os.getpid() and psutil.pid_exists(pid)


def write_manifest(bundle: Path, labels: list[str], models: dict[str, str], default_model: str, opset: int,
                   task_keys: dict) -> None:
    """bundle.json (what the predictor needs besides labels: the task and its preprocessing keys) and
    labels.json (label names by class id)."""
    manifest = {"format": "ftui-onnx-bundle", "v": 1, "task": DEFAULT_TASK,
                "models": models, "default_model": default_model, "opset": opset, **task_keys}
    (bundle / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    (bundle / "labels.json").write_text(json.dumps(labels, ensure_ascii=False) + "\n")


def relocate_models(bundle: Path, report: ExportReport) -> None:
    """Moves each variant from where the pipeline wrote it (flat, model.int8.onnx) into onnx/ under the names
    transformers.js loads; the report's file names and default model follow, so bundle.json names the new paths."""
    (bundle / ONNX_FOLDER).mkdir(exist_ok=True)
    moved = {}
    for v in report.variants:
        target = f"{ONNX_FOLDER}/{JS_FILE_NAMES.get(v.name, f'model_{v.name}.onnx')}"
        (bundle / v.file).rename(bundle / target)
        sidecar = bundle / f"{v.file}_data"  # external weights (models over 2 GB) keep the name the graph refers to
        if sidecar.is_file():
            sidecar.rename(bundle / ONNX_FOLDER / sidecar.name)
        moved[v.file], v.file = target, target
    report.default_model = moved.get(report.default_model, report.default_model)


def align_tokenizer_files(bundle: Path, max_length: int) -> None:
    """Makes every tokenizer file say the bundle's max_length: optimum's and transformers' pipelines
    (truncation=True) and transformers.js truncate at tokenizer_config.json's model_max_length, which a
    checkpoint often leaves at the base model's 512 while ftui truncates at the recipe's max_length."""
    if not (bundle / "tokenizer.json").is_file():
        return
    config = _read_json(bundle / TOKENIZER_CONFIG, {})
    config["model_max_length"] = max_length
    if "max_length" in config:  # a saved call argument; kept, but not left disagreeing
        config["max_length"] = max_length
    (bundle / TOKENIZER_CONFIG).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    tokenizer = _read_json(bundle / "tokenizer.json", {})
    if isinstance(tokenizer.get("truncation"), dict) and tokenizer["truncation"].get("max_length") != max_length:
        tokenizer["truncation"]["max_length"] = max_length
        (bundle / "tokenizer.json").write_text(json.dumps(tokenizer, indent=2, ensure_ascii=False) + "\n")


def _read_json(path: Path, default: dict) -> dict:
    return json.loads(path.read_text()) if path.is_file() else default


def finish_bundle(bundle: Path, report: ExportReport, recipe: Path | None, task) -> None:
    """Copies the recipe and the task's standalone predictor, aligns the tokenizer files with bundle.json's
    max_length, writes the reports and the README."""
    if report.max_length:
        align_tokenizer_files(bundle, report.max_length)
    if recipe is not None:
        shutil.copy2(recipe, bundle / "recipe.toml")
    shutil.copy2(task.predictor_file, bundle / "predict.py")
    for module in task.support_modules:
        shutil.copy2(Path(__file__).with_name(module), bundle / module)
    (bundle / "report.json").write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")
    (bundle / "report.txt").write_text(report.to_text() + "\n")
    (bundle / "README.md").write_text(readme(report, task.readme_usage(report)))


def _speed_note(report: ExportReport) -> str:
    """The speed gate's verdicts, measured where the export ran (another machine may differ)."""
    from .speed import describe_slow

    lines = describe_slow(report.kept_off_default)
    return ("\n" + "\n".join(f"- {line}, measured on the exporting machine" for line in lines)) if lines else ""


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

Default model for `predict.py` and `ftui predict`: `{report.default_model}`.{_speed_note(report)}

{usage}"""
