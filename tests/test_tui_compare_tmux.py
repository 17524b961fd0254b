"""End to end in a real 80x24 terminal: three fake trainers run on a clock, `ftui watch a b c` in
tmux shows their curves overlaid and a leaderboard that follows them live, and `s` stops one."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from test_tui_e2e_tmux import Tmux, pytestmark, tmux, wait_events  # noqa: F401  (fixture, skip mark)
from tui_pilot import read_commands

FAKE = Path(__file__).with_name("fake_trainer.py")
BRAILLE = range(0x2801, 0x2900)


def test_watch_a_b_c_overlays_curves_and_ranks_live_runs_at_80x24(tmux, tmp_path):
    plans = {"a": 60, "b": 600, "c": 2000}  # the fake's accuracy grows faster in a run of fewer steps
    trainers = [subprocess.Popen([sys.executable, str(FAKE), str(tmp_path / name), "--steps", str(steps),
                                  "--eval-every", "20", "--step-time", "0.02"], stdout=subprocess.DEVNULL)
                for name, steps in plans.items()]
    try:
        for name in plans:
            wait_events(tmp_path / name, lambda ev: any(e["type"] == "eval" for e in ev), timeout=60,
                        what=f"{name}'s first eval")
        tmux.start("cmp", "watch a b c", size=(80, 24))
        screen = tmux.wait("cmp", lambda s: "━ c" in s and "━ a" in s and "━ b" in s, timeout=60,
                           what="the leaderboard")
        screen = tmux.wait("cmp", lambda s: sum(ord(ch) in BRAILLE for ch in s) > 60, what="the overlaid curves")
        assert "ranked by best accuracy" in screen and "train loss" in screen and "eval accuracy" in screen
        assert all(word in screen for word in ("acc", "@step", "smp/s", "params", "ckpt", "status"))
        rank = {line.split()[2]: int(line.split()[0]) for line in screen.splitlines() if "━ " in line}
        assert rank["a"] == 1  # a's accuracy rises fastest and ends highest
        tmux.wait("cmp", lambda s: "✔ done" in s, timeout=60, what="a finished, shown live")
        rows = [line for line in tmux.screen("cmp").splitlines() if "━ c" in line or "━ b" in line]
        assert len(rows) == 2 and all("running" in row for row in rows)
        line = next(i for i, text in enumerate(tmux.screen("cmp").splitlines()) if "━ " in text)
        c_row = next(i for i, text in enumerate(tmux.screen("cmp").splitlines()) if "━ c" in text)
        tmux.keys("cmp", *["Down"] * (c_row - line), "s")
        tmux.wait("cmp", lambda s: "Stop the run?" in s, what="the stop prompt")
        tmux.keys("cmp", "y")
        deadline = time.monotonic() + 30
        while not read_commands(tmp_path / "c") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [c["cmd"] for c in read_commands(tmp_path / "c")] == ["stop"]
        tmux.wait("cmp", lambda s: "■ stopped" in s, timeout=30, what="c stopped, shown live")
        print(tmux.screen("cmp"))  # the README's capture comes from here (pytest -s)
        tmux.keys("cmp", "q")
        tmux.wait("cmp", lambda s: "FTUI_EXIT=0" in s, what="ftui to exit")
    finally:
        for p in trainers:
            p.kill()
            p.wait(timeout=10)
