"""Given a headless run, when a tool writes commands, then the trainer acts on them at a step
boundary and acknowledges each one in the event log."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from conftest import events_of
from ftui.rundir.events import write_command


def wait_for(run_dir, predicate, timeout=60.0, what="event", after=None):
    """The first event matching ``predicate`` (and written after the event ``after``, if given)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (run_dir / "events.jsonl").exists():
            events = events_of(run_dir)
            start = events.index(after) + 1 if after in events else 0
            for event in events[start:]:
                if predicate(event):
                    return event
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; last events: {events_of(run_dir)[-5:]}")


def ack_of(run_dir, command, timeout=30.0):
    return wait_for(run_dir, lambda e: e["type"] == "ack" and e["id"] == command["id"], timeout, f"ack {command['cmd']}")


@pytest.fixture
def long_run(make_recipe, tmp_path):
    """A tiny-model run of many steps, no evaluation or checkpoint until the end or a command."""
    recipe = make_recipe(train={"max_steps": 100000, "logging_steps": 1, "eval_every": 100000},
                         checkpoint={"every": 100000})
    proc = subprocess.Popen([sys.executable, "-m", "ftui.tui.cli", "train", str(recipe), "--headless"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run_dir = tmp_path / "runs" / "tiny"
    yield proc, run_dir
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_pause_save_set_lr_resume_stop(long_run):
    proc, run = long_run
    wait_for(run, lambda e: e["type"] == "step" and e["step"] >= 3, what="training steps")

    pause = write_command(run, "pause")
    paused_at = ack_of(run, pause)["step"]
    wait_for(run, lambda e: e["type"] == "status" and e["status"] == "paused")
    time.sleep(1.0)
    assert max(e["step"] for e in events_of(run, "step")) <= paused_at, "steps ran while paused"

    save = write_command(run, "save")
    assert ack_of(run, save)["ok"]
    saved = wait_for(run, lambda e: e["type"] == "checkpoint" and e["reason"] == "command")
    assert saved["step"] == paused_at and (run / saved["path"] / "model.safetensors").is_file()
    # after the save the run is paused again, still at the same step
    wait_for(run, lambda e: e["type"] == "status" and e["status"] == "paused", after=saved)
    lr_before = [e for e in events_of(run, "step")][-1]["lr"]

    set_lr = write_command(run, "set_lr", value=1e-5, mode="set")
    assert ack_of(run, set_lr)["ok"]
    resume = write_command(run, "resume")
    assert ack_of(run, resume)["ok"]
    after = wait_for(run, lambda e: e["type"] == "step" and e["step"] > paused_at + 2, what="steps after resume")
    assert after["lr"] == pytest.approx(1e-5, rel=0.01) and lr_before > 1e-4

    stop = write_command(run, "stop")
    assert ack_of(run, stop)["ok"]
    assert proc.wait(timeout=60) == 0
    final = wait_for(run, lambda e: e["type"] == "checkpoint" and e["reason"] == "stop")
    statuses = [e["status"] for e in events_of(run, "status")]
    assert statuses[-1] == "stopped"
    summary = events_of(run, "summary")[-1]
    assert summary["status"] == "stopped" and summary["final_step"] == final["step"]
    assert (run / final["path"] / "trainer_state.json").is_file()


def test_unknown_and_bad_commands_are_refused_not_fatal(long_run):
    proc, run = long_run
    wait_for(run, lambda e: e["type"] == "step")
    with open(run / "commands.jsonl", "a") as f:
        f.write('{"v":1,"id":"bogus1","cmd":"explode"}\n')
        f.write('{"v":1,"id":"badlr","cmd":"set_lr","value":-3}\n')
        f.write('not json at all\n')
    assert ack_of(run, {"id": "bogus1", "cmd": "explode"})["ok"] is False
    assert ack_of(run, {"id": "badlr", "cmd": "set_lr"})["ok"] is False
    stop = write_command(run, "stop")
    ack_of(run, stop)
    assert proc.wait(timeout=60) == 0


def test_sigterm_checkpoints_then_stops(long_run):
    proc, run = long_run
    wait_for(run, lambda e: e["type"] == "step" and e["step"] >= 2)
    proc.terminate()
    assert proc.wait(timeout=60) == 0
    assert events_of(run, "checkpoint")[-1]["reason"] == "stop"
    assert events_of(run, "status")[-1]["status"] == "stopped"


def test_a_set_lr_survives_resume(make_recipe, tmp_path):
    """Given a set_lr (scale x0.1) then stop, when the run is resumed, then its rate stays scaled:
    the scheduler's base rates are in the checkpoint, so the scaled schedule continues."""
    recipe = make_recipe(train={"max_steps": 100000, "logging_steps": 1, "eval_every": 100000, "scheduler": "constant"},
                         checkpoint={"every": 100000})
    cmd = [sys.executable, "-m", "ftui.tui.cli", "train", str(recipe), "--headless"]
    run = tmp_path / "runs" / "tiny"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(run, lambda e: e["type"] == "step" and e["step"] >= 2, what="training steps")
        assert ack_of(run, write_command(run, "set_lr", value=0.1, mode="scale"))["ok"]
        scaled = wait_for(run, lambda e: e["type"] == "step" and e.get("lr", 1) < 5e-4, what="a scaled step")
        assert scaled["lr"] == pytest.approx(1e-4, rel=0.01)
        assert ack_of(run, write_command(run, "stop"))["ok"]
        assert proc.wait(timeout=60) == 0
        stopped = events_of(run, "summary")[-1]["final_step"]
        proc = subprocess.Popen([sys.executable, "-m", "ftui.tui.cli", "train", "--resume", str(run), "--headless"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        resumed = wait_for(run, lambda e: e["type"] == "run_start" and e.get("resumed_from"), what="the resume")
        after = wait_for(run, lambda e: e["type"] == "step" and e["step"] > stopped and e.get("lr"), after=resumed,
                         what="steps after the resume")
        assert after["lr"] == pytest.approx(1e-4, rel=0.01), "the resumed run lost the set_lr"
        assert ack_of(run, write_command(run, "stop"))["ok"]
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
