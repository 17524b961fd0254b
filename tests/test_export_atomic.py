"""An export publishes its bundle only once it is complete: a cancelled, failed, killed or disk-full
export leaves the previous bundle byte for byte, and the next export cleans up after a killed one."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from export_fixtures import tiny_checkpoint, tiny_run, validation_rows  # noqa: F401
from test_tui_states import dead_pid

from ftui.export import bundle as bundle_module
from ftui.export.bundle import prepare_bundle_dir
from ftui.export.pipeline import ExportCancelled, ExportOptions, run_export
from ftui.tui.cli import main


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def options(run: Path, output: Path, **more) -> ExportOptions:
    return ExportOptions(run, output=output, benchmark=False, threads=1, **more)


@pytest.fixture
def published(tiny_run, tmp_path) -> Path:
    """An output folder holding one good fp32 bundle of the tiny run."""
    output = tmp_path / "out"
    assert run_export(options(tiny_run, output)).passed
    return output


def test_a_cancelled_export_keeps_the_previous_bundle_and_leaves_nothing_behind(tiny_run, published):
    before = snapshot(published / "bundle")
    cancel, stages = threading.Event(), []

    def progress(stage: str, message: str) -> None:
        stages.append(stage)
        if stage == "export":
            cancel.set()  # the ONNX file is written to the staging folder before the next stage stops it

    with pytest.raises(ExportCancelled, match="cancelled before validate"):
        run_export(options(tiny_run, published, quantize="int8"), progress, cancel)
    assert stages == ["load", "validate", "export"]
    assert snapshot(published / "bundle") == before
    assert [p.name for p in published.iterdir()] == ["bundle"]


def test_a_full_disk_is_one_line_and_keeps_the_previous_bundle(tiny_run, published, monkeypatch, capsys):
    before = snapshot(published / "bundle")
    finish = bundle_module.finish_bundle

    def disk_full(staging, *args):
        finish(staging, *args)  # a half-written bundle in the staging folder...
        raise OSError(errno.ENOSPC, "No space left on device")  # ...when the disk fills up

    monkeypatch.setattr(bundle_module, "finish_bundle", disk_full)
    code = main(["export", str(tiny_run), "--onnx", "--no-benchmark", "--threads", "1", "--output", str(published)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == (f"ftui: {published}: writing the export failed (No space left on device); "
                                            "any earlier bundle there is unchanged")
    assert snapshot(published / "bundle") == before
    assert [p.name for p in published.iterdir()] == ["bundle"]


def test_a_killed_export_keeps_the_bundle_and_the_next_export_cleans_up(tiny_run, published):
    before = snapshot(published / "bundle")
    # With the benchmark on, seconds of work follow the line we wait for: the kill cannot come too late.
    proc = subprocess.Popen([sys.executable, "-m", "ftui.tui.cli", "export", str(tiny_run), "--onnx",
                             "--threads", "1", "--output", str(published)], stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:  # progress lines; kill it once the ONNX file is in the staging folder
        if "through onnxruntime" in line:
            proc.send_signal(signal.SIGKILL)
            break
    assert proc.wait(timeout=120) == -signal.SIGKILL
    leftover = published / f".bundle.partial-{proc.pid}"
    assert (leftover / "model.onnx").is_file(), "the kill landed after the export stage"
    assert snapshot(published / "bundle") == before

    assert main(["export", str(tiny_run), "--onnx", "--no-benchmark", "--threads", "1", "--output", str(published)]) == 0
    assert [p.name for p in published.iterdir()] == ["bundle"]
    assert json.loads((published / "bundle" / "report.json").read_text())["passed"]


def test_a_bundle_moved_aside_by_a_dead_export_is_put_back(tmp_path):
    """An export killed between its two renames left the old bundle at .bundle.old-PID and none in place."""
    output, pid = tmp_path / "out", dead_pid()
    (output / f".bundle.old-{pid}").mkdir(parents=True)
    (output / f".bundle.old-{pid}" / "bundle.json").write_text("{}")
    (output / f".bundle.partial-{pid}").mkdir()
    (output / ".bundle.partial-notapid").mkdir()  # not ours to judge: left alone
    bundle, staging = prepare_bundle_dir(output)
    assert (bundle / "bundle.json").read_text() == "{}"
    assert sorted(p.name for p in output.iterdir()) == sorted(["bundle", staging.name, ".bundle.partial-notapid"])


def read_only(folder: Path, argv: list[str]) -> list[str] | None:
    """``argv`` run with ``folder`` read-only: a read-only bind mount in a private mount namespace as root
    (root writes through permission bits), mode 555 otherwise; None where neither can be had."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return argv
    if shutil.which("unshare") and subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0:
        mount = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && exec "$@"'
        return ["unshare", "-m", "sh", "-c", mount, str(folder), *argv]
    return None


def export_command(run: Path, output: Path) -> list[str]:
    return [sys.executable, "-m", "ftui.tui.cli", "export", str(run), "--onnx", "--no-benchmark", "--threads", "1",
            "--output", str(output)]


@pytest.mark.parametrize("where", ["output", "bundle"])
def test_a_read_only_bundle_folder_is_one_line_and_keeps_the_previous_bundle(tiny_run, published, where):
    """Read-only output folder: refused before any work. Read-only bundle folder (a mount point): the
    finished export cannot be renamed into place, so it is dropped and the old bundle stays."""
    if where == "bundle" and os.geteuid() != 0:
        pytest.skip("a read-only bundle folder needs a mount point (root); mode 555 does not stop its rename")
    before = snapshot(published / "bundle")
    folder = published if where == "output" else published / "bundle"
    argv = read_only(folder, export_command(tiny_run, published))
    if argv is None:
        pytest.skip("no way to make a folder read-only here: running as root without mount namespaces (unshare -m)")
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    finally:
        folder.chmod(0o755)
    err = result.stderr.strip().splitlines()
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    expected = "cannot write the export there" if where == "output" else "any earlier bundle there is unchanged"
    assert err[-1].startswith(f"ftui: {published}") and expected in err[-1], err  # progress lines come before it
    assert snapshot(published / "bundle") == before
    assert [p.name for p in published.iterdir()] == ["bundle"]
