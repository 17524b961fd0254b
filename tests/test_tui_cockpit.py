"""The cockpit through Textual's pilot, against run directories written by the fake trainer:
given a run directory, when the user presses a key, then the screen and commands.jsonl show it."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_trainer import FakeTrainer
from tui_pilot import open_cockpit, read_commands, screen_text, wait_for, widget_text

from ftui.tui.cockpit import CockpitScreen
from ftui.tui.dialogs import ConfirmStop, LrPrompt, QuitPrompt


@pytest.fixture
def live_run(tmp_path):
    """A run 120 steps into 200: two evals, two checkpoints, heartbeats, no GPU.

    The test process stands in as the trainer's pid: the history is written once, so on a
    loaded machine a test can outlast the 10 s after which a silent run with no live process
    reads as dead, and a dead run refuses commands."""
    fake = FakeTrainer(tmp_path / "tiny-run", total_steps=200).claim_process().start()
    fake.say("dataset: 1000 train rows, 200 validation rows")
    fake.write_history(120, eval_every=50, hardware_every=10)
    fake.say("gradient norm clipped at step 118", "warning")
    return fake


def cockpit(app) -> CockpitScreen:
    return app.screen if isinstance(app.screen, CockpitScreen) else app.screen_stack[1]


async def test_panes_fill_from_the_run_directory(live_run):
    app = open_cockpit(live_run.run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "step 120/200" in screen_text(app), what="header at step 120")
        header = widget_text(app, "#header")
        assert "RUNNING" in header and "tiny-run" in header and "epoch 1.20/2" in header
        braille = lambda text: sum(ch >= "\u2801" and ch <= "\u28ff" for ch in text)  # noqa: E731
        # Each pane repaints on its own refresh: under load the chart can lag the header by a frame.
        await wait_for(pilot, lambda: braille(widget_text(app, "#chart")) > 50, what="the loss chart drawn")
        await wait_for(pilot, lambda: "clipped" in widget_text(app, "#log"), what="the log filled")
        chart = widget_text(app, "#chart")
        assert braille(chart) > 50, chart
        assert "120" in chart.splitlines()[-1]  # the step axis ends at the last step
        metrics = widget_text(app, "#metrics")
        assert "5.0e-05" in metrics and "48.0" in metrics and "3.1k" in metrics
        assert f"{live_run.best:.4f} @ 100" in metrics
        checkpoints = widget_text(app, "#checkpoints")
        assert "★" in checkpoints and "100" in checkpoints and "50" in checkpoints and "16.8M" in checkpoints
        star_line = next(line for line in checkpoints.splitlines() if "★" in line)
        assert "100" in star_line
        hardware = widget_text(app, "#hardware")
        assert "no GPU: NVML not available" in hardware and "CPU" in hardware and "RSS 1.2G" in hardware
        log = widget_text(app, "#log")
        assert "WARNING gradient norm clipped" in log


async def test_new_events_appear_live(live_run):
    app = open_cockpit(live_run.run)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "step 120/200" in screen_text(app))
        live_run.steps(30)
        live_run.checkpoint("steps", live_run.evaluate())
        await wait_for(pilot, lambda: "step 150/200" in screen_text(app), what="step 150")
        await wait_for(pilot, lambda: "150" in widget_text(app, "#checkpoints"), what="a new checkpoint row")


async def test_keys_write_the_right_commands(live_run):
    app = open_cockpit(live_run.run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "step 120/200" in screen_text(app))
        on = lambda kind: wait_for(pilot, lambda: isinstance(app.screen, kind), what=kind.__name__)  # noqa: E731
        await pilot.press("p")          # running: pause
        await pilot.press("p")          # the pause is still pending: p means resume
        await pilot.press("s")
        await pilot.press("x")
        await on(ConfirmStop)
        await pilot.press("n")          # no: nothing written
        await on(CockpitScreen)         # a dialog opens and closes a frame later; under load, later still
        await pilot.press("l")
        await on(LrPrompt)
        await pilot.press(*"3e-5", "enter")
        await on(CockpitScreen)
        await pilot.press("l")
        await on(LrPrompt)
        await pilot.press(*"x0.5", "enter")
        await on(CockpitScreen)
        await pilot.press("l")
        await on(LrPrompt)
        await pilot.press(*"fast", "enter")    # not a number: the prompt stays, says why
        assert isinstance(app.screen, LrPrompt)
        assert "not a number" in screen_text(app)
        await pilot.press("escape")
        await on(CockpitScreen)
        await pilot.press("x")
        await on(ConfirmStop)
        await pilot.press("y")
        await wait_for(pilot, lambda: len(read_commands(live_run.run)) >= 6, what="six commands")
        sent = [(c["cmd"], c.get("value"), c.get("mode")) for c in read_commands(live_run.run)]
        assert sent == [("pause", None, None), ("resume", None, None), ("save", None, None),
                        ("set_lr", 3e-5, "set"), ("set_lr", 0.5, "scale"), ("stop", None, None)]
        assert len({c["id"] for c in read_commands(live_run.run)}) == 6


async def test_a_command_is_pending_until_acknowledged(live_run):
    app = open_cockpit(live_run.run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "step 120/200" in screen_text(app))
        await pilot.press("s")
        await wait_for(pilot, lambda: "⧗ save pending" in widget_text(app, "#commands"), what="pending")
        await pilot.pause(0.3)
        assert "acknowledged" not in widget_text(app, "#commands")  # no ack, no claim
        command = read_commands(live_run.run)[0]
        live_run.handle(command)  # the trainer saves and acknowledges
        await wait_for(pilot, lambda: "✔ save acknowledged" in widget_text(app, "#commands"), what="ack")
        assert "saved checkpoints/checkpoint-120" in widget_text(app, "#commands")
        await pilot.press("l", *"x2", "enter")
        await wait_for(pilot, lambda: "set_lr x2 pending" in widget_text(app, "#commands"))
        live_run.ack(read_commands(live_run.run)[1], ok=False, message="no optimizer yet")
        await wait_for(pilot, lambda: "FAILED: no optimizer yet" in widget_text(app, "#commands"))


async def test_paused_run_shows_paused_and_p_resumes(live_run):
    live_run.status("paused", "paused by command")
    app = open_cockpit(live_run.run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "PAUSED" in widget_text(app, "#header"))
        assert "p resumes" in widget_text(app, "#commands")
        await pilot.press("p")
        assert [c["cmd"] for c in read_commands(live_run.run)] == ["resume"]


@pytest.mark.parametrize("status,word,message", [
    ("nan_halted", "NaN-HALTED", "loss became NaN at step 120"),
    ("failed", "FAILED", "CUDA out of memory"),
])
async def test_halted_and_failed_runs_say_so_and_refuse_commands(live_run, status, word, message):
    live_run.say(message, "error")
    live_run.finish(status, message)
    app = open_cockpit(live_run.run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: word in widget_text(app, "#header"), what=word)
        assert message in widget_text(app, "#commands")
        assert f"ERROR {message}" in widget_text(app, "#log")
        await pilot.press("p", "s", "x")
        assert read_commands(live_run.run) == []
        await wait_for(pilot, lambda: "q quit" in widget_text(app, "Footer"))
        assert "pause" not in widget_text(app, "Footer")  # the footer offers only what works now


async def test_finished_run_offers_the_export_screen(live_run, monkeypatch):
    live_run.steps(80)
    live_run.checkpoint("final", live_run.evaluate())
    live_run.finish()
    monkeypatch.chdir(live_run.run.parent)
    app = open_cockpit(Path("tiny-run"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "FINISHED" in widget_text(app, "#header"), what="finished")
        assert "Best: checkpoint-200" in widget_text(app, "#commands")
        await wait_for(pilot, lambda: "e export" in widget_text(app, "Footer"), what="export in the footer")
        assert "pause" not in widget_text(app, "Footer")
        await pilot.press("e")
        text = screen_text(app)
        assert "checkpoint-200" in text
        assert "ftui export tiny-run --onnx --quantize int8" in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, CockpitScreen), what="CockpitScreen")


async def test_export_waits_for_the_end_of_the_run(live_run):
    app = open_cockpit(live_run.run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "step 120/200" in screen_text(app))
        await pilot.press("e")
        await pilot.pause(0.3)
        assert isinstance(app.screen, CockpitScreen)


async def test_gpu_pane_shows_each_gpu(tmp_path):
    fake = FakeTrainer(tmp_path / "gpu-run", gpus=2).claim_process().start()
    fake.write_history(20, hardware_every=2)
    app = open_cockpit(fake.run)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "GPU1" in widget_text(app, "#hardware"), what="GPU rows")
        hardware = widget_text(app, "#hardware")
        assert "GPU0" in hardware and "31.0/80.0G" in hardware and "70°C" in hardware and "250W" in hardware
        assert "no GPU" not in hardware


async def test_quit_asks_detach_or_stop(live_run):
    app = open_cockpit(live_run.run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "step 120/200" in screen_text(app))
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitPrompt), what="QuitPrompt")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, CockpitScreen), what="CockpitScreen")
        await pilot.press("q", "d")
        await pilot.pause(0.1)
    assert app.return_value == "detached"
    assert read_commands(live_run.run) == []  # detaching asks nothing of the trainer

    app = open_cockpit(live_run.run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "step 120/200" in screen_text(app))
        await pilot.press("q", "s")
        await pilot.pause(0.1)
    assert app.return_value == "stopped"
    assert [c["cmd"] for c in read_commands(live_run.run)] == ["stop"]


async def test_detach_key_leaves_without_a_command(live_run):
    app = open_cockpit(live_run.run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "step 120/200" in screen_text(app))
        await pilot.press("d")
        await pilot.pause(0.1)
    assert app.return_value == "detached"
    assert read_commands(live_run.run) == []


async def test_rotated_out_checkpoints_leave_the_table(live_run):
    import shutil

    shutil.rmtree(live_run.run / "checkpoints" / "checkpoint-50")
    app = open_cockpit(live_run.run)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "rotated out" in widget_text(app, "#checkpoints"), what="rotation")
        rows = widget_text(app, "#checkpoints")
        assert "★ 100" in rows and " 50 " not in rows and "1 older rotated out" in rows


async def test_commands_are_marked_on_the_chart_and_the_diagnosis_is_shown(tmp_path):
    """Given a run with a set_lr at step 40, a save at 150 and an overfitting diagnosis, at 80x24 the
    chart marks L and S in step order under the plot, the metrics pane names the diagnosis and its
    suggestion, and the log pane lists the commands with their acks and the diagnosis."""
    fake = FakeTrainer(tmp_path / "marked-run", total_steps=200).claim_process().start()
    fake.steps(40).ack({"id": "c1", "cmd": "set_lr"}, message="lr 5e-05 -> 1e-05")
    fake.steps(110).evaluate()
    fake.ack({"id": "c2", "cmd": "save"}, message="saving checkpoint-150")
    fake.log.emit("diagnosis", 150, kind="overfitting", since_step=100, action="stop_keep_best",
                  evidence="eval loss rose 3 evaluations in a row, 0.41 -> 0.52, while train loss fell 0.40 -> 0.21",
                  suggestion="stop and keep the best checkpoint")
    app = open_cockpit(fake.run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "cmds┤" in widget_text(app, "#chart"), what="the marks row")
        await wait_for(pilot, lambda: "diagnosis" in widget_text(app, "#log"), what="the log filled")
        marks = next(line for line in widget_text(app, "#chart").splitlines() if "cmds┤" in line)
        row = marks.split("cmds┤", 1)[1]
        assert 0 < row.index("L") < row.index("S"), marks
        side = screen_text(app)  # the diagnosis is the metrics pane's title
        assert "─overfit: stop, keep best─" in side, side
        log = widget_text(app, "#log")
        assert "command set_lr at step 40 ok" in log and "command save at step 150 ok" in log
        assert "WARNING diagnosis: overfitting since" in log  # long lines are cut to the pane
        assert "no messages yet" not in log
