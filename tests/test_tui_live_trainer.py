"""The cockpit steering a live (fake) trainer process: the whole loop through the run directory,
key press -> commands.jsonl -> trainer -> ack event -> screen."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tui_pilot import open_cockpit, read_commands, wait_for, widget_text

from ftui.tui.dialogs import ConfirmStop, LrPrompt

FAKE = Path(__file__).with_name("fake_trainer.py")


def start_fake(run: Path, *args: str) -> subprocess.Popen:
    run.mkdir(parents=True)
    log = open(run / "trainer.log", "w")
    return subprocess.Popen([sys.executable, str(FAKE), str(run), *args], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


@pytest.fixture
def trainer(tmp_path):
    procs = []

    def start(*args):
        proc = start_fake(tmp_path / "live", *args)
        procs.append(proc)
        return proc
    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


async def test_pause_save_lr_resume_stop_round_trip(trainer, tmp_path):
    proc = trainer("--steps", "2000", "--step-time", "0.02")
    run = tmp_path / "live"
    app = open_cockpit(run, started_here=True)
    async with app.run_test(size=(100, 30)) as pilot:
        header = lambda: widget_text(app, "#header")  # noqa: E731
        bar = lambda: widget_text(app, "#commands")  # noqa: E731
        await wait_for(pilot, lambda: "RUNNING" in header(), what="running")
        await pilot.press("p")
        await wait_for(pilot, lambda: "✔ pause acknowledged" in bar(), what="pause ack")
        await wait_for(pilot, lambda: "PAUSED" in header(), what="paused")
        paused_at = app.screen.state.step
        await pilot.pause(0.4)
        assert app.screen.state.step == paused_at  # the trainer really stopped stepping
        await pilot.press("s")
        await wait_for(pilot, lambda: f"saved checkpoints/checkpoint-{paused_at}" in bar(), what="save ack")
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LrPrompt), what="the lr prompt")
        await pilot.press(*"x0.5", "enter")
        await wait_for(pilot, lambda: "lr 5e-05 -> 2.5e-05" in bar(), what="lr ack")
        await pilot.press("p")
        await wait_for(pilot, lambda: "✔ resume acknowledged" in bar(), what="resume ack")
        await wait_for(pilot, lambda: app.screen.state.step > paused_at + 5, what="training again")
        assert "2.5e-05" in widget_text(app, "#metrics")
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmStop), what="the stop question")
        await pilot.press("y")
        await wait_for(pilot, lambda: "STOPPED" in header(), what="stopped")
        assert "✔ stop acknowledged" in bar()
    assert proc.wait(timeout=10) == 0
    assert [c["cmd"] for c in read_commands(run)] == ["pause", "save", "set_lr", "resume", "stop"]


async def test_a_trainer_that_dies_mid_run_is_reported(trainer, tmp_path):
    proc = trainer("--steps", "500", "--step-time", "0.01", "--die-at", "30")
    app = open_cockpit(tmp_path / "live", started_here=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "TRAINER DIED" in widget_text(app, "#header"), what="died")
        assert "dying abruptly at step 30" in widget_text(app, "#log")
    assert proc.wait(timeout=5) == 9


async def test_nan_halt_from_a_live_trainer(trainer, tmp_path):
    trainer("--steps", "500", "--step-time", "0.01", "--nan-at", "40")
    app = open_cockpit(tmp_path / "live", started_here=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "NaN-HALTED" in widget_text(app, "#header"), what="nan halt")
        assert "loss became NaN at step 40" in widget_text(app, "#commands")
        assert "DIED" not in widget_text(app, "#header")
