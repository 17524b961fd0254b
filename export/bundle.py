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


def finish_bundle(bundle: Path, report: ExportReport, recipe: Path | None, task) -> None:
    """Copies the recipe and the task's standalone predictor, writes the reports and the README."""
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
