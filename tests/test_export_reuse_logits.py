"""Given a run whose trainer saved the best checkpoint's fp32 validation logits, `ftui export` reuses them
only when their key matches its own inputs and the weights; tampered weights, inputs or logits mean
PyTorch runs again (and its logits are what the gates compare against)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import ftui, tiny_recipe
from image_fixtures import image_folder, tiny_resnet, train_cli  # noqa: F401

from ftui.export.pipeline import ExportOptions, run_export
from ftui.rundir.checkpoints import check_checkpoint
from ftui.rundir.reference_logits import KEY_FILE, LOGITS_FILE


def best_checkpoint(run: Path) -> Path:
    return run / "checkpoints" / json.loads((run / "checkpoints" / "best.json").read_text())["checkpoint"]


def export(source: Path, out: Path, **kw):
    return run_export(ExportOptions(source=source, output=out, benchmark=False, threads=1, **kw))


@pytest.fixture(scope="module")
def text_run(tmp_path_factory, tiny_model_dir, tiny_csv) -> Path:
    tmp = tmp_path_factory.mktemp("reuse-text")
    ftui("train", "--headless", tiny_recipe(tmp, tiny_model_dir, tiny_csv), "--max-steps", "6", cwd=tmp, check=True)
    return next((tmp / "runs").iterdir())


def test_text_run_saves_its_logits_and_export_reuses_them(text_run, tmp_path):
    ck = best_checkpoint(text_run)
    key = json.loads((ck / KEY_FILE).read_text())
    assert key["dtype"] == "float32" and key["rows"] == len(np.load(ck / LOGITS_FILE))
    check_checkpoint(ck)  # the extra files do not make a checkpoint invalid for resume
    report = export(text_run, tmp_path / "bundle")
    assert report.reference["reused"] and report.reference["inputs_sha256"] == key["inputs_sha256"]
    assert report.passed, report.failed_gates
    # the saved logits are PyTorch's on these inputs: without them, the export computes the same numbers
    plain = tmp_path / "plain"
    shutil.copytree(text_run, plain)
    (best_checkpoint(plain) / KEY_FILE).unlink()
    recomputed = export(plain, tmp_path / "again")
    assert recomputed.reference == {"reused": False, "why": "the checkpoint has no saved validation logits"}
    assert "PyTorch reference: reused from training" in (Path(report.bundle_path) / "report.txt").read_text()
    assert recomputed.pytorch == pytest.approx(report.pytorch)
    a, b = report.variants[0].metrics, recomputed.variants[0].metrics
    assert a["label_agreement"] == b["label_agreement"] and abs(a["max_abs_diff"] - b["max_abs_diff"]) < 1e-5


def _copy(run: Path, tmp: Path) -> Path:
    """The same validation rows in a file elsewhere, with one text changed: other inputs."""
    lines = (run / "data" / "validation.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["text"] = first["text"] + " indeed"
    path = tmp / "validation.jsonl"
    path.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    return path


def test_tampered_weights_or_logits_are_recomputed(text_run, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    run = tmp_path / "run"
    shutil.copytree(text_run, run)
    ck = best_checkpoint(run)
    saved = np.load(ck / LOGITS_FILE)
    weights = load_file(ck / "model.safetensors")
    name = next(k for k in weights if k.startswith("classifier") and k.endswith("weight"))
    weights[name] = weights[name] + 0.5 * torch.randn_like(weights[name])
    save_file(weights, ck / "model.safetensors", metadata={"format": "pt"})
    report = export(run, tmp_path / "bundle")
    assert not report.reference["reused"] and "model.safetensors" in report.reference["why"]
    assert report.passed  # fp32 checked against PyTorch on the new weights, not the stale logits
    assert "PyTorch reference: computed (model.safetensors" in (Path(report.bundle_path) / "report.txt").read_text()

    shutil.copytree(text_run / "checkpoints", run / "checkpoints", dirs_exist_ok=True)  # weights back
    np.save(ck / LOGITS_FILE, saved + 1.0)
    report = export(run, tmp_path / "bundle2")
    assert not report.reference["reused"] and LOGITS_FILE in report.reference["why"]


def test_other_validation_inputs_are_recomputed(text_run, tmp_path):
    report = export(text_run, tmp_path / "bundle", data=_copy(text_run, tmp_path))
    assert report.reference == {"reused": False, "why": "the validation inputs differ from the ones the trainer evaluated"}


def test_image_run_reuses_and_a_changed_image_is_recomputed(tmp_path, tiny_resnet):  # noqa: F811
    result = train_cli(tmp_path, tiny_resnet, image_folder(tmp_path / "digits", 8), "--max-steps", "4",
                       "--batch-size", "8")
    assert result.returncode == 0, result.stderr[-2000:]
    run = next((tmp_path / "runs").iterdir())
    report = export(run, tmp_path / "bundle")
    assert report.reference["reused"], report.reference
    assert report.passed, report.failed_gates
    first = sorted((run / "data" / "validation").iterdir())[0]
    from PIL import Image

    with Image.open(first) as im:
        pixels = np.asarray(im.convert("L")).copy()
    pixels[0, 0] = 255 - pixels[0, 0]
    Image.fromarray(pixels).save(first)
    again = export(run, tmp_path / "bundle2")
    assert not again.reference["reused"] and "validation inputs differ" in again.reference["why"]
