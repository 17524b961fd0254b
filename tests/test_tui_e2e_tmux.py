"""End to end in a real terminal: tmux runs the real `ftui train` on a tiny model; keys go in
with send-keys and what a person sees comes back with capture-pane.

Also: the trainer outlives its TUI, whether the TUI is detached, SIGKILLed, hung up on
(SIGHUP, as when an SSH connection drops) or its tmux session is killed.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import events_of

from ftui.rundir.layout import RunDir

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


class Tmux:
    """A private tmux server (its own socket), so tests never touch the user's sessions."""

    def __init__(self, cwd: Path):
        self.socket = f"ftui-test-{os.getpid()}-{time.monotonic_ns()}"
        self.cwd = cwd

    def __call__(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True,
                              check=True, timeout=10).stdout

    def start(self, name: str, ftui_args: str, size=(120, 36)) -> None:
        env = "HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false"
        command = (f"cd {shlex.quote(str(self.cwd))} && {env} {shlex.quote(sys.executable)} -m ftui.tui.cli "
                   f"{ftui_args}; echo FTUI_EXIT=$?; sleep 600")
        self("new-session", "-d", "-s", name, "-x", str(size[0]), "-y", str(size[1]), command)

    def screen(self, name: str) -> str:
        return self("capture-pane", "-p", "-t", name)

    def keys(self, name: str, *keys: str) -> None:
        self("send-keys", "-t", name, *keys)

    def wait(self, name: str, condition, timeout: float = 60, what: str = "") -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen(name)
            if condition(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or condition}\n--- screen ---\n{text}")
            time.sleep(0.2)

    def tui_pid(self, name: str) -> int:
        """The pid of the ftui process in a session (a child of the pane's shell)."""
        shell = psutil.Process(int(self("display", "-p", "-t", name, "#{pane_pid}").strip()))
        for proc in shell.children(recursive=True):
            if "ftui.tui.cli" in proc.cmdline():  # `python -m ftui.tui.cli`, not the shell around it
                return proc.pid
        raise AssertionError("no ftui process in the tmux pane")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)


@pytest.fixture
def tmux(tmp_path):
    server = Tmux(tmp_path)
    yield server
    server.close()


@pytest.fixture
def long_recipe(make_recipe):
    """Long enough to steer (a few hundred steps of the tiny model), short enough for a test."""
    return make_recipe(train={"epochs": 100.0, "max_steps": 700, "eval_every": 100, "logging_steps": 1},
                       checkpoint={"every": 0, "keep": 20})


def wait_events(run: Path, condition, timeout: float = 120, what: str = "") -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        events = events_of(run) if (run / "events.jsonl").exists() else []
        if condition(events):
            return events
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last events: {events[-3:]}")
        time.sleep(0.3)


def final_status(events: list[dict]) -> str | None:
    summaries = [e for e in events if e["type"] == "summary"]
    return summaries[-1]["status"] if summaries else None


def header(screen: str) -> str:
    return "\n".join(screen.splitlines()[:2])


def test_train_pause_save_resume_detach_watch_and_kill(tmux, long_recipe, tmp_path):
    run = tmp_path / "runs" / "tiny"
    tmux.start("train", f"train {long_recipe}")
    tmux.wait("train", lambda s: "RUNNING" in header(s) and "step" in s, timeout=120, what="the run to start")

    tmux.keys("train", "p")
    screen = tmux.wait("train", lambda s: "PAUSED" in header(s) and "pause acknowledged" in s, what="pause")
    assert "p resumes" in screen
    paused = [e for e in events_of(run, "status") if e["status"] == "paused"][-1]["step"]

    tmux.keys("train", "s")
    tmux.wait("train", lambda s: f"saving checkpoint-{paused}" in s, what="save acknowledged")
    wait_events(run, lambda ev: any(e["type"] == "checkpoint" and e["reason"] == "command" for e in ev),
                what="the commanded checkpoint")
    tmux.wait("train", lambda s: f" {paused} " in s.split("checkpoints", 1)[-1], what="the new checkpoint row")
    assert events_of(run, "step")[-1]["step"] == paused  # paused means no steps
    # the pause and the save are marked at their step under the chart and listed in the log pane
    screen = tmux.wait("train", lambda s: "cmds┤" in s and f"command save at step {paused} ok" in s,
                       what="the commands on the chart and in the log")
    marks = next(line for line in screen.splitlines() if "cmds┤" in line)
    assert "*" in marks.split("cmds┤", 1)[1], marks  # pause and save at one step share a column
    assert "no messages yet" not in screen

    tmux.keys("train", "p")
    tmux.wait("train", lambda s: "resume acknowledged" in s and "RUNNING" in header(s), what="resume")
    tmux.keys("train", "d")
    screen = tmux.wait("train", lambda s: "FTUI_EXIT=0" in s, what="ftui to exit")
    assert "detached" in screen and f"ftui watch {run}" in screen.replace("\n", "")
    assert RunDir(run).trainer_alive() is True  # detaching left the trainer running

    tmux.start("watch", f"watch {run}")
    screen = tmux.wait("watch", lambda s: "RUNNING" in header(s), timeout=60, what="watch to attach")
    assert "resume acknowledged" in screen  # the earlier session's commands are part of the history
    chart_rows = [line for line in screen.splitlines() if "┤" in line]
    assert any(row.split("┤", 1)[1][:1].strip() for row in chart_rows)  # the loss line starts at step 0
    assert "★" in screen or f" {paused} " in screen  # the checkpoints are listed

    tmux("kill-session", "-t", "watch")  # like a closed terminal: SIGHUP to everything in it
    events = wait_events(run, final_status, timeout=180, what="the trainer to finish")
    assert final_status(events) == "finished"
    assert events[-1]["type"] in ("summary", "status") and events_of(run, "step")[-1]["step"] == 700


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGHUP])
def test_the_trainer_survives_its_tui_being_killed(tmux, make_recipe, tmp_path, sig):
    recipe = make_recipe(train={"epochs": 100.0, "max_steps": 300, "eval_every": 100, "logging_steps": 1})
    run = tmp_path / "runs" / "tiny"
    tmux.start("train", f"train {recipe}")
    tmux.wait("train", lambda s: "RUNNING" in header(s), timeout=120, what="the run to start")
    tui = tmux.tui_pid("train")
    os.kill(tui, sig)
    tmux.wait("train", lambda s: "FTUI_EXIT=" in s, timeout=20, what="the TUI to die")
    assert not psutil.pid_exists(tui) or psutil.Process(tui).status() == psutil.STATUS_ZOMBIE
    assert RunDir(run).trainer_alive() is True
    events = wait_events(run, final_status, timeout=180, what="the trainer to finish")
    assert final_status(events) == "finished" and events_of(run, "step")[-1]["step"] == 300
