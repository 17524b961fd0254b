"""The cockpit's pure parts: learning-rate input, trainer verdict, command tracking, the
chart's decimation, the watcher's incremental reads, number formats."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from fake_trainer import FakeTrainer

from ftui.tui import fmt
from ftui.tui.app import farewell
from ftui.tui.chart import LossHistory, column_spans, render_chart
from ftui.tui.cockpit import pause_or_resume
from ftui.tui.command_tracker import CommandTracker
from ftui.tui.dialogs import parse_lr
from ftui.tui.hardware_pane import sparkline
from ftui.tui.watcher import RunWatcher, read_log_tail, verdict


@pytest.mark.parametrize("text,expected", [
    ("3e-5", (3e-5, "set")), (" 0.0001 ", (1e-4, "set")), ("x0.5", (0.5, "scale")),
    ("*2", (2.0, "scale")), ("X 0.1", (0.1, "scale")),
])
def test_parse_lr_accepts_values_and_factors(text, expected):
    assert parse_lr(text) == expected


@pytest.mark.parametrize("text,why", [
    ("", "not a number"), ("fast", "not a number"), ("-1e-5", "positive"), ("x0", "positive"),
    ("nan", "positive"), ("2", "x2"), ("x5000", "at most x1000"),
])
def test_parse_lr_rejects_with_a_reason(text, why):
    with pytest.raises(ValueError, match=why):
        parse_lr(text)


@pytest.mark.parametrize("status,alive,silent,expected", [
    ("running", True, 1.0, "ok"),
    ("running", False, 1.0, "died"),          # pid gone, run not over
    ("running", None, 30.0, "died"),          # cannot check the pid and silent
    ("running", None, 3.0, "ok"),
    ("running", True, 30.0, "silent"),        # alive but quiet: hung or a long step
    ("finished", False, 999.0, "ok"),         # over, not dead
    ("nan_halted", False, 999.0, "ok"),
    ("starting", None, None, "ok"),           # nothing written yet
])
def test_verdict(status, alive, silent, expected):
    assert verdict(status, alive, silent) == expected


def test_p_means_resume_while_a_pause_is_pending():
    tracker = CommandTracker()
    assert pause_or_resume("running", tracker) == "pause"
    tracker.sent({"id": "a", "cmd": "pause", "t": 1})
    assert pause_or_resume("running", tracker) == "resume"
    tracker.acked({"id": "a", "ok": True})
    assert pause_or_resume("paused", tracker) == "resume"
    tracker.sent({"id": "b", "cmd": "resume", "t": 2})
    assert pause_or_resume("paused", tracker) == "pause"


def test_tracker_matches_acks_in_either_order():
    tracker = CommandTracker()
    tracker.acked({"id": "other-ui", "ok": False, "message": "bad value"})  # ack read before its command
    tracker.sent({"id": "mine", "cmd": "save", "t": 1})
    tracker.sent({"id": "other-ui", "cmd": "set_lr", "t": 2, "value": 0.5, "mode": "scale"})
    assert [c.state for c in tracker.latest()] == ["pending", "failed"]
    assert tracker.commands["other-ui"].label() == "set_lr x0.5"
    tracker.sent({"id": "mine", "cmd": "save", "t": 1})  # read back from commands.jsonl: no duplicate
    assert len(tracker.commands) == 2 and len(tracker.pending()) == 1


def test_decimation_keeps_extremes_of_each_column():
    x = np.arange(100_000, dtype=float)
    y = np.ones_like(x)
    y[77_777] = 9.0
    y[12_345] = -4.0
    cols, lo, hi = column_spans(x, y, 0, 99_999, 50)
    assert len(cols) == 50
    assert hi.max() == 9.0 and lo.min() == -4.0
    assert cols[np.argmax(hi)] == round(77_777 / 99_999 * 49)


def test_sparse_points_are_joined_into_a_line():
    cols, lo, hi = column_spans(np.array([0.0, 100.0]), np.array([0.0, 1.0]), 0, 100, 11)
    assert list(cols) == list(range(11))  # every column between the two points is drawn
    assert np.all(np.diff(hi) >= 0)


def test_chart_skips_nan_and_survives_tiny_sizes():
    history = LossHistory()
    for step in range(1, 50):
        history.add_step(step, 1.0 / step)
    history.add_step(50, math.nan)
    history.add_eval(25, {"loss": 0.2, "accuracy": 0.8})
    assert len(history.raw) == 49
    text = render_chart(history, 60, 12).plain
    assert "acc 0.8" in text and "nan" not in text
    assert render_chart(history, 10, 2).plain == "(too small for the chart)"
    assert "waiting" in render_chart(LossHistory(), 60, 12).plain


def test_smoothed_loss_is_debiased():
    history = LossHistory()
    history.add_step(1, 0.7)
    assert history.smooth.last() == pytest.approx(0.7)  # not 0.07: the EMA starts at the first value


def test_watcher_reads_only_what_was_appended(tmp_path):
    fake = FakeTrainer(tmp_path / "run").start()
    watcher = RunWatcher(fake.run)
    first = watcher.poll()
    assert [e["type"] for e in first.events][:2] == ["status", "run_start"]
    assert watcher.poll() is None
    fake.steps(3)
    with open(fake.run / "events.jsonl", "a") as f:
        f.write('{"v":1,"type":"step","t":1.5,"step":4,')  # a torn line, still being written
    assert [e["step"] for e in watcher.poll().events] == [1, 2, 3]
    with open(fake.run / "events.jsonl", "a") as f:
        f.write('"loss":0.5}\n')
    assert [e["step"] for e in watcher.poll().events] == [4]
    (fake.run / "commands.jsonl").write_text(json.dumps({"id": "x", "cmd": "save"}) + "\n")
    assert watcher.poll().commands == [{"id": "x", "cmd": "save"}]


def test_health_carries_the_log_tail_only_when_needed(tmp_path):
    fake = FakeTrainer(tmp_path / "run")
    (fake.run / "trainer.log").write_text("loading torch\n")
    watcher = RunWatcher(fake.run)
    assert watcher.health().log_tail == ["loading torch"]  # nothing written yet: the log is the news
    fake.start()
    watcher.poll()
    assert watcher.health().log_tail == []  # alive enough (events), pid unknown, not silent


def test_read_log_tail_reads_the_end_only(tmp_path):
    log = tmp_path / "trainer.log"
    log.write_text("".join(f"line {i}\n" for i in range(10_000)) + "\r progress 99%\r")
    assert read_log_tail(log, lines=2) == ["line 9999", " progress 99%"]
    assert read_log_tail(tmp_path / "missing.log") == []


def test_formats():
    assert fmt.duration(3725) == "1h02m" and fmt.duration(65) == "1m05s" and fmt.duration(None) == "–"
    assert fmt.size(17_600_000) == "16.8M" and fmt.size(512) == "512B"
    assert fmt.number(3e-5, 3) == "3.0e-05" and fmt.number(0.81234) == "0.8123"
    assert fmt.number(float("nan")) == "nan" and fmt.rate(3072) == "3.1k" and fmt.steps(100_000) == "100k"
    assert sparkline([0, 50, 100, None]) == "▁▅█ "


def test_farewell_says_how_to_come_back(tmp_path):
    assert "ftui watch" in farewell("detached", tmp_path / "r") and "goes on" in farewell("detached", tmp_path / "r")
    assert "stop" in farewell("stopped", tmp_path / "r")
    assert farewell("quit", tmp_path / "r") is None


def test_metrics_show_per_rank_step_times_for_a_multi_process_run():
    from ftui.rundir.runstate import fold
    from ftui.tui.metrics_pane import metric_rows

    step = {"type": "step", "t": 1.0, "step": 5, "loss": 1.0, "samples_per_s": 100.0, "rank_step_s": [0.41, 0.63]}
    rows = dict(metric_rows(fold([step])))
    assert rows["samples/s"] and rows["s/step ×2"] == "0.41 0.63"
    assert not any(label.startswith("s/step") for label in dict(metric_rows(fold([dict(step, rank_step_s=None)]))))


def test_chart_marks_acknowledged_commands_at_their_steps():
    history = LossHistory()
    for step in range(1, 101):
        history.add_step(step, 1.0 / step)
    history.add_ack({"type": "ack", "step": 10, "cmd": "pause", "ok": True})
    history.add_ack({"type": "ack", "step": 50, "cmd": "set_lr", "ok": True})
    history.add_ack({"type": "ack", "step": 50, "cmd": "save", "ok": True})   # two at one column: "*"
    history.add_ack({"type": "ack", "step": 90, "cmd": "stop", "ok": False})  # refused: not marked
    history.add_ack({"type": "ack", "step": 95, "cmd": "resume", "ok": True})  # not a marked command
    lines = render_chart(history, 80, 12).plain.splitlines()
    assert len(lines) == 12
    row = next(line for line in lines if line.startswith("  cmds┤"))[7:]
    cells = row[: -len("L lr P pause S save X stop")]
    assert cells.replace(" ", "") == "P*"
    plot_w = 80 - 7 - 5
    assert row.index("P") == round(10 * (plot_w - 1) / 100) and row.index("*") == round(50 * (plot_w - 1) / 100)
    assert row.endswith("L lr P pause S save X stop")
    assert not any("cmds┤" in line for line in render_chart(LossHistory(), 80, 12).plain.splitlines())
