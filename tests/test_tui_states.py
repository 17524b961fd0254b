"""The cockpit on runs in trouble or at scale: a dead trainer, a silent one, a 10^5-step history,
and every layout from 80x24 up."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from fake_trainer import FakeTrainer
from tui_pilot import open_cockpit, screen_text, wait_for, widget_text

from ftui.tui.cockpit import CockpitScreen


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def crashed_run(tmp_path):
    """A run whose trainer process is gone while its last status still says running."""
    fake = FakeTrainer(tmp_path / "crashed", total_steps=100).start()
    fake.write_history(40, eval_every=20)
    fake.claim_process(dead_pid())
    (fake.run / "trainer.log").write_text("step 40\nTraceback (most recent call last):\n"
                                          "RuntimeError: CUDA error: an illegal memory access\n")
    return fake


async def test_a_dead_trainer_is_shown_with_its_last_words(crashed_run):
    app = open_cockpit(crashed_run.run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "TRAINER DIED" in widget_text(app, "#header"), what="died")
        await wait_for(pilot, lambda: "illegal memory access" in " ".join(widget_text(app, "#log").split()),
                       what="the last line of trainer.log, whole")
        assert "process is gone" in widget_text(app, "#log")
        assert "step 40/100" in widget_text(app, "#header")  # the history is still all there
        await pilot.press("p")
        assert not (crashed_run.run / "commands.jsonl").exists()  # no commands to a dead trainer


async def test_a_finished_run_whose_trainer_exited_is_not_dead(crashed_run):
    crashed_run.finish()
    app = open_cockpit(crashed_run.run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "FINISHED" in widget_text(app, "#header"))
        await pilot.pause(0.2)
        assert "DIED" not in screen_text(app)


async def test_silence_from_a_trainer_we_cannot_check_means_it_died(tmp_path):
    fake = FakeTrainer(tmp_path / "remote", total_steps=100).start()
    fake.write_history(30)
    events = fake.run / "events.jsonl"
    shifted = [dict(e, t=e["t"] - 60) for e in map(json.loads, events.read_text().splitlines())]
    events.write_text("".join(json.dumps(e) + "\n" for e in shifted))  # last word a minute ago, no pidfile
    app = open_cockpit(fake.run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "TRAINER DIED" in widget_text(app, "#header"), what="died")
        assert "no event for 1m" in widget_text(app, "#log")


async def test_a_100k_step_history_is_drawn_whole(tmp_path):
    fake = FakeTrainer(tmp_path / "long", total_steps=100_000).claim_process().start()
    fake.write_bulk_steps(99_999)
    fake.steps(1, loss=2.5)  # one late spike: decimation must keep it
    app = open_cockpit(fake.run)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: "step 100000/100000" in widget_text(app, "#header"), timeout=30)
        await wait_for(pilot, lambda: widget_text(app, "#chart").rstrip().endswith("100k"), what="the chart")
        chart = widget_text(app, "#chart").splitlines()
        assert chart[1].lstrip().startswith("2.6")  # the axis reaches the spike (2.5 plus padding)
        plot = [line[7:-5] for line in chart[1:-1]]
        assert plot[0].rstrip()[-1] != " " and plot[0][:len(plot[0]) // 2].strip() == ""  # spike at the end only
        columns_drawn = sum(any(row[c] != " " for row in plot) for c in range(len(plot[0])))
        assert columns_drawn == len(plot[0])  # every column of the plot carries the line


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (160, 48), (60, 20)])
async def test_every_layout_renders(tmp_path, size):
    fake = FakeTrainer(tmp_path / "layout", total_steps=200, gpus=1).claim_process().start()
    fake.write_history(120, eval_every=30)
    app = open_cockpit(fake.run)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: "step 120/200" in screen_text(app))
        screen = app.screen
        assert isinstance(screen, CockpitScreen)
        for pane in ("#chart", "#metrics", "#hardware", "#checkpoints", "#log", "#commands"):
            region = screen.query_one(pane).region
            assert region.width > 0 and region.height > 0, pane
            assert region.right <= size[0] and region.bottom <= size[1], pane
        if size[0] >= 80:
            assert "best acc" in widget_text(app, "#metrics")
            assert "GPU0" in widget_text(app, "#hardware")
            await wait_for(pilot, lambda: "q quit" in widget_text(app, "Footer"), what="the footer")
