"""The export screen through Textual's pilot, on a finished run holding a real tiny classifier:
given a finished run, when the user presses e, picks int8 and starts, then the real export runs in
a worker, the screen shows its progress and the report, and the bundle lands on disk."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
from export_fixtures import tiny_checkpoint, tiny_run, validation_rows  # noqa: F401
from tui_pilot import open_cockpit, screen_text, wait_for, widget_text

from ftui.export.errors import ExportError
from ftui.export.pipeline import ExportOptions, run_export
from ftui.rundir.events import EventLog
from ftui.tui.cockpit import CockpitScreen
from ftui.tui.export_screen import ExportChoice, ExportScreen, export_command

EXPORT_TIMEOUT = 90.0  # the tiny model exports and validates in ~10 s on 2 busy cores


def finish(run, step: int = 10) -> None:
    """Writes what a finished trainer leaves in events.jsonl, so the cockpit offers `e`."""
    log = EventLog(run / "events.jsonl")
    log.emit("run_start", 0, run=run.name, model="tiny", task="sequence-classification",
             labels=["negative", "neutral", "positive"], metric="accuracy", train_rows=450, validation_rows=150,
             total_steps=step, epochs=1, batch_size=32, params_total=1_000_000, params_trainable=1_000_000,
             strategy="full", precision="fp32", device="cpu", resumed_from=None)
    log.emit("checkpoint", step, path=f"checkpoints/checkpoint-{step}", reason="final", metric="accuracy",
             value=0.5, size_bytes=4_000_000, best=True)
    log.emit("status", step, status="finished", message="")
    log.emit("summary", step, status="finished", best_checkpoint=f"checkpoint-{step}", metric="accuracy",
             best_value=0.5, final_step=step, train_runtime_s=3.0, metrics={})
    log.close()


def squeeze(text: str) -> str:
    return re.sub(r"\s", "", text)


async def open_export_screen(app, pilot) -> ExportScreen:
    await wait_for(pilot, lambda: "FINISHED" in widget_text(app, "#header"), what="a finished run")
    await pilot.press("e")
    await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen), what="the export screen")
    return app.screen


def test_the_shell_command_follows_the_choice(tmp_path):
    assert export_command(tmp_path / "r") == f"ftui export {tmp_path}/r --onnx --quantize int8"
    both = ExportChoice(optimize=True, int8=True, benchmark=False)
    assert export_command(tmp_path / "r", both) == f"ftui export {tmp_path}/r --onnx --optimize O2 --quantize int8 --no-benchmark"
    assert both.stages() == ["load", "validate", "export", "optimize", "quantize", "publish", "done"]
    assert ExportChoice(int8=False).stages() == ["load", "validate", "export", "benchmark", "publish", "done"]


def hold_exports(monkeypatch) -> tuple[threading.Event, list]:
    """Makes the real run_export wait for the returned event, so a test can act while an export runs;
    the list collects the options of every export started."""
    from ftui.export import pipeline

    go, real, started = threading.Event(), pipeline.run_export, []

    def held(opts, progress=None, cancel=None):
        started.append(opts)
        assert go.wait(20), "the test never let the export go"  # short: a failing test must not hang
        return real(opts, progress, cancel)

    monkeypatch.setattr(pipeline, "run_export", held)
    return go, started


async def test_int8_export_runs_from_the_screen_and_writes_the_bundle(tiny_run, monkeypatch):
    finish(tiny_run)
    go, started = hold_exports(monkeypatch)
    monkeypatch.chdir(tiny_run.parent)  # as a user types it: ftui watch run
    app = open_cockpit(Path("run"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_export_screen(app, pilot)
        assert screen.choice == ExportChoice(optimize=False, int8=True, benchmark=True)  # int8 on by default
        assert "ftui export run --onnx --quantize int8 " in screen_text(app)
        await pilot.press("b")  # benchmark off: seconds instead of a minute
        assert screen.choice == ExportChoice(optimize=False, int8=True, benchmark=False)
        assert "--quantize int8 --no-benchmark" in screen_text(app)  # the shell line follows the ticks
        await pilot.press("s")
        assert screen.running and "exporting" in widget_text(app, "#export-status")
        await pilot.press("s", "i")  # while it runs: no second export, no change of options
        await wait_for(pilot, lambda: started, what="the worker to call run_export")
        assert screen.choice.int8 and len(started) == 1
        assert (started[0].quantize, started[0].optimize, started[0].benchmark) == ("int8", None, False)
        assert "start export" not in widget_text(app, "Footer")
        go.set()
        await pilot.pause(0.2)
        assert len(started) == 1
        await wait_for(pilot, lambda: any("exporting to ONNX" in line for line in screen.lines), EXPORT_TIMEOUT,
                       what="progress lines from the worker")
        await wait_for(pilot, lambda: not screen.running, EXPORT_TIMEOUT, what="the export to finish")
        # what a person sees comes with the next repaint, not with the handler
        await wait_for(pilot, lambda: "ftui predict" in widget_text(app, "#export-bundle"), 10,
                       what="the bundle line on screen")

        status = widget_text(app, "#export-status")
        assert "PASS" in status and "FAIL" not in status, screen_text(app)
        assert [line.split()[2] for line in screen.lines][:3] == ["load", "validate", "export"]
        assert "quantize" in {line.split()[2] for line in screen.lines} and screen.lines[-1].split()[2] == "done"
        report_text = str(screen.query_one("#export-body").render())
        assert "ftui export: PASS" in report_text and "int8" in report_text and "onnx/model_quantized.onnx" in report_text
        assert "latency" not in report_text  # benchmark off, as ticked
        bundle = tiny_run / "export" / "bundle"
        assert 'ftui predict run/export/bundle "some text"' in widget_text(app, "#export-bundle")
        assert sorted(p.name for p in bundle.rglob("*.onnx")) == ["model.onnx", "model_quantized.onnx"]
        report = json.loads((bundle / "report.json").read_text())
        assert report["passed"] and [v["name"] for v in report["variants"]] == ["fp32", "int8"]
        assert report["benchmark"]["rows"] == []

        await pilot.press("escape")  # done: back to the cockpit
        await wait_for(pilot, lambda: isinstance(app.screen, CockpitScreen), what="CockpitScreen")
        await pilot.press("e")  # and the screen remembers the bundle on disk
        assert "exported    PASS, in run/export/bundle" in screen_text(app)


async def test_esc_cancels_a_running_export_and_the_earlier_bundle_stays(tiny_run, monkeypatch):
    finish(tiny_run)
    assert run_export(ExportOptions(tiny_run, benchmark=False, threads=1)).passed
    bundle = tiny_run / "export" / "bundle"
    before = {p.relative_to(bundle): p.read_bytes() for p in bundle.rglob("*") if p.is_file()}
    go, started = hold_exports(monkeypatch)
    app = open_cockpit(tiny_run)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_export_screen(app, pilot)
        await pilot.press("s")
        await wait_for(pilot, lambda: started, what="the worker to call run_export")
        await pilot.press("escape")  # the first esc cancels; the screen stays to say how it ended
        await wait_for(pilot, lambda: screen.cancel.is_set(), what="the cancel")
        assert app.screen is screen
        await wait_for(pilot, lambda: "cancelling" in widget_text(app, "#export-status"), what="the cancelling line")
        go.set()
        await wait_for(pilot, lambda: not screen.running, EXPORT_TIMEOUT, what="the export to stop")
        await wait_for(pilot, lambda: "cancelled" in widget_text(app, "#export-status"), what="the cancelled line")
        assert "anyearlierbundle" in squeeze(widget_text(app, "#export-status")) and "Traceback" not in screen_text(app)
        assert {p.relative_to(bundle): p.read_bytes() for p in bundle.rglob("*") if p.is_file()} == before
        assert [p.name for p in bundle.parent.iterdir()] == ["bundle"]
        await pilot.press("escape")  # over: esc leaves
        await wait_for(pilot, lambda: isinstance(app.screen, CockpitScreen), what="CockpitScreen")


async def test_missing_validation_split_is_one_line_and_the_app_stays_up(tiny_run):
    (tiny_run / "data" / "validation.jsonl").unlink()
    finish(tiny_run)
    app = open_cockpit(tiny_run)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_export_screen(app, pilot)
        await pilot.press("b", "s")
        await wait_for(pilot, lambda: not screen.running, EXPORT_TIMEOUT, what="the export to stop")
        with pytest.raises(ExportError) as error:  # what the CLI would say
            run_export(ExportOptions(tiny_run, benchmark=False))
        assert "no validation split" in str(error.value)
        status = widget_text(app, "#export-status")  # all of it, wrapped to 80 columns
        assert squeeze(status) == squeeze(f"✖ {error.value}")
        assert "Traceback" not in screen_text(app)
        assert not (tiny_run / "export" / "bundle" / "bundle.json").exists()
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, CockpitScreen), what="CockpitScreen")
        assert app.is_running


def test_try_line_names_an_input_of_the_bundle_task(tmp_path):
    from ftui.tui.export_screen import first_validation_image, predict_command

    assert predict_command(Path("b")) == 'ftui predict b "some text"'
    assert first_validation_image(tmp_path) is None
    (tmp_path / "data" / "validation").mkdir(parents=True)
    (tmp_path / "data" / "validation" / "000001.png").write_bytes(b"")
    image = first_validation_image(tmp_path)
    assert image.endswith("000001.png")
    assert predict_command(Path("b"), "image-classification", image) == f"ftui predict b {image}"
