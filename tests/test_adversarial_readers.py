"""Given an events.jsonl with lines nobody here wrote (wrong field types, missing fields, unknown
types, a newer schema, random bytes), when any reader reads it (the tail, run state, `ftui runs`,
the watcher, the cockpit's panes), then the bad lines are skipped and counted, never a traceback."""

from __future__ import annotations

import json
import math
import socket
import time
from pathlib import Path

from fake_trainer import FakeTrainer
from hypothesis import HealthCheck, given, settings, strategies as st
from tui_pilot import open_cockpit, screen_text, wait_for, widget_text

from conftest import ftui
from ftui.rundir.events import EventLog, EventTail, read_events
from ftui.rundir.events_schema import EVENT_TYPES, SCHEMA, Event, Invalid, jsonable, parse_event
from ftui.rundir.layout import RunDir
from ftui.rundir.runstate import RunState, fold
from ftui.rundir.summary import summarize

# The issue's examples: each a well-formed JSON object a reader must skip, not crash on.
BAD_LINES = [
    '{"v":1,"type":"step","t":1700000000.0,"step":"many","loss":0.5}',
    '{"v":1,"type":"step","t":1700000000.0,"step":7,"loss":"x"}',
    '{"v":1,"type":"eval","t":1700000000.0,"step":7,"metrics":[1]}',
    '{"v":1,"type":"run_start","t":1700000000.0,"step":0,"labels":5}',
    '{"v":1,"type":"step","t":null,"step":8}',
    '{"v":2,"type":"step","t":1700000000.0,"step":9,"loss":0.1}',
    '{"v":1,"type":"teleport","t":1700000000.0,"step":9}',
    '{"v":1,"type":"status","t":1700000000.0,"step":9}',
    '{"v":1,"type":"hardware","t":1700000000.0,"step":9,"gpus":[{"util":"hot"}]}',
    '{"v":1,"type":"checkpoint","t":1e300,"step":9,"path":"checkpoints/x"}',
    "[" * 50_000,
]

KNOWN_FIELDS = sorted({f for req, opt in SCHEMA.values() for f in (*req, *opt)})

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=12)
    | st.sampled_from(["nan", "inf", "-inf", "many", ""]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
# Objects that look like events (known types and fields) with random values, so the checks of
# every field are reached, not only the "not an object" branch.
event_like = st.fixed_dictionaries(
    {"type": st.sampled_from(EVENT_TYPES) | json_values},
    optional={"v": st.just(1) | json_values, "t": st.floats(0, 2e9) | json_values,
              "step": st.integers(0, 10**6) | json_values, **{name: json_values for name in KNOWN_FIELDS}},
)
lines = st.lists((event_like | json_values).map(lambda v: json.dumps(v).encode()) | st.binary(max_size=40),
                 max_size=12)


def a_run(root: Path, name: str = "odd-run") -> FakeTrainer:
    """A finished run of 20 steps with an eval and a checkpoint, written by the contract."""
    fake = FakeTrainer(root / name, total_steps=20).start()
    fake.steps(10)
    fake.checkpoint("steps", fake.evaluate())
    fake.hardware()
    fake.steps(10)
    fake.finish()
    return fake


def append(run: Path, lines) -> None:
    """Appends each line (text or raw bytes; a newline inside becomes a space) to the event log."""
    with open(run / "events.jsonl", "ab") as f:
        for line in lines:
            f.write((line.encode() if isinstance(line, str) else line).replace(b"\n", b" ") + b"\n")


def render_everything(state: RunState) -> None:
    """Hands the state to every pane's text builder, as the cockpit would (Rich only, no app)."""
    from ftui.tui.chart import LossHistory, render_chart
    from ftui.tui.checkpoints_pane import checkpoint_table
    from ftui.tui.hardware_pane import HardwareHistory, hardware_text
    from ftui.tui.log_pane import log_lines
    from ftui.tui.metrics_pane import metric_rows
    from ftui.tui.run_header import RunHeader, elapsed_s, progress_bar

    history, hardware = LossHistory(state.metric_name), HardwareHistory()
    for step, loss in state.train_loss:
        history.add_step(step, loss)
    for step, metrics in state.evals:
        history.add_eval(step, metrics)
    if state.hardware:
        hardware.add(state.hardware)
    render_chart(history, 60, 12)
    hardware_text(hardware)
    metric_rows(state)
    checkpoint_table(state.checkpoints, state.best_checkpoint, 5, time.time())
    log_lines(state.logs, 5, 60)
    RunHeader._identity(state, state.status, 80)
    progress_bar(state.step, state.total_steps, 40)
    elapsed_s(state, time.time())
    f"{state.epoch:.2f} {state.epochs:g} {100 * state.step / (state.total_steps or 1):3.0f}"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=lines)
def test_no_line_makes_a_reader_raise(tmp_path_factory, junk):
    run = a_run(tmp_path_factory.mktemp("runs")).run
    good = len(read_events(run / "events.jsonl"))
    append(run, junk)

    events = read_events(run / "events.jsonl")
    assert all(isinstance(e, Event) for e in events) and len(events) >= good
    tail = EventTail(run / "events.jsonl")
    state = RunState()
    state.read(tail)
    assert len(events) + tail.skipped == sum(1 for line in (run / "events.jsonl").read_bytes().split(b"\n")
                                             if line.strip())
    assert state.skipped_events == tail.skipped and state.step >= 20
    render_everything(state)
    row = summarize(RunDir(run))
    assert row["skipped_events"] == tail.skipped
    json.dumps(jsonable(row), allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(obj=event_like | json_values)
def test_a_checked_event_has_its_documented_types(obj):
    """Each object either passes with every known field in its one type, or is refused with a reason;
    handed to RunState unparsed, it is checked there the same way."""
    state = fold([obj])
    render_everything(state)
    try:
        event = parse_event(json.dumps(obj))
    except Invalid as e:
        assert str(e) and "\n" not in str(e) and state.skipped_events == 1
        return
    assert state.skipped_events == 0
    assert isinstance(event["step"], int) and math.isfinite(event["t"])
    required, optional = SCHEMA[event["type"]]
    for name in (*required, *optional):
        if name in event:
            assert event[name] is not None
    for name in ("loss", "grad_norm"):
        assert isinstance(event.get(name, 0.0), float) or name not in event
    if event["type"] == "run_start":
        assert all(isinstance(label, str) for label in event.get("labels", []))


def test_the_issues_examples_are_skipped_and_counted(tmp_path):
    run = a_run(tmp_path).run
    append(run, BAD_LINES)
    events = read_events(run / "events.jsonl")
    assert not any(e.get("step") in ("many",) or e.get("v") == 2 for e in events)
    state = RunState().read(EventTail(run / "events.jsonl"))
    assert state.skipped_events == len(BAD_LINES) and state.status == "finished" and state.step == 20
    assert "skipped 11 unreadable event(s)" in state.logs[-1]["message"]


def test_the_writers_nan_string_is_a_float_for_every_reader(tmp_path):
    """The writer spells a non-finite loss "nan"; readers get a float, so the chart can test it."""
    run = a_run(tmp_path).run
    append(run, ['{"v":1,"type":"step","t":1700000000.0,"step":21,"loss":"nan","grad_norm":"inf"}'])
    step = read_events(run / "events.jsonl")[-1]
    assert math.isnan(step["loss"]) and step["grad_norm"] == math.inf


def test_ftui_runs_lists_a_run_with_bad_lines(tmp_path):
    fake = a_run(tmp_path / "runs")
    append(fake.run, BAD_LINES)
    table = ftui("runs", cwd=tmp_path, timeout=60)
    assert table.returncode == 0, table.stderr
    assert "odd-run" in table.stdout and "finished" in table.stdout and "20/20" in table.stdout
    assert "11 unreadable line(s)" in table.stdout and not table.stderr
    listed = ftui("runs", "--json", cwd=tmp_path, timeout=60)
    assert listed.returncode == 0, listed.stderr
    row = json.loads(listed.stdout)
    assert row["name"] == "odd-run" and row["status"] == "finished" and row["skipped_events"] == len(BAD_LINES)


def test_a_garbage_pidfile_reads_as_unknown(tmp_path):
    run = a_run(tmp_path).run
    for text in ('[1]', '{"pid": "x", "host": null}', '{"pid": 99999999999999, "host": "%s"}'):
        (run / "trainer.pid").write_text(text.replace("%s", socket.gethostname()))
        assert RunDir(run).trainer_alive() is None
        assert summarize(RunDir(run))["status"] == "finished"


def test_watcher_hands_on_only_checked_events_and_counts_the_rest(tmp_path):
    from ftui.tui.watcher import RunWatcher

    run = a_run(tmp_path).run
    watcher = RunWatcher(run)
    first = watcher.poll()
    assert first.skipped == 0
    append(run, BAD_LINES[:3])
    (run / "commands.jsonl").write_text('{"v":1,"id":"a","cmd":"set_lr","value":"fast"}\n'
                                        '{"v":1,"id":"b","cmd":"pause"}\n[]\n')
    read = watcher.poll()
    assert read.events == [] and read.skipped == 3 and "'metrics'" in read.last_skip
    assert [c["id"] for c in read.commands] == ["b"]  # the trainer refuses the others with an ack


async def test_cockpit_shows_a_run_with_bad_lines(tmp_path):
    """The cockpit attached to a run whose log has the issue's lines (and the writer's own "nan"
    loss) shows the run, and says how many lines it skipped."""
    fake = a_run(tmp_path)
    append(fake.run, BAD_LINES + ['{"v":1,"type":"step","t":1700000000.0,"step":20,"loss":"nan"}'])
    app = open_cockpit(fake.run)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "step 20/20" in screen_text(app), what="the header at step 20")
        await wait_for(pilot, lambda: "skipped" in widget_text(app, "#log"), what="the skip warning")
        assert "FINISHED" in widget_text(app, "#header")
        assert "odd-run" in screen_text(app)


def test_event_log_lines_pass_the_schema(tmp_path):
    """What the writer writes, every reader accepts: one event of each type as the trainer emits it."""
    log = EventLog(tmp_path / "events.jsonl")
    log.emit("run_start", 0, run="r", model="m", labels=["a", "b"], total_steps=3, epochs=1.0, resumed_from=None)
    log.emit("step", 1, epoch=0.3, loss=float("nan"), lr=None, grad_norm="inf", rank_step_s=[0.1, 0.2])
    log.emit("eval", 1, epoch=0.3, metrics={"loss": 0.5, "accuracy": float("nan")}, duration_s=None)
    log.emit("checkpoint", 1, path="checkpoints/checkpoint-1", reason="steps", metric="accuracy", value=None,
             size_bytes=10, best=False)
    log.emit("status", 1, status="running", message="")
    log.emit("hardware", 1, host="h", cpu_percent=3.0, gpus=[{"index": 0, "util": None}], gpu_note=None)
    log.emit("log", 1, level="info", message="hi")
    log.emit("ack", 1, id=None, cmd=None, ok=False, message="not a JSON object")
    log.emit("summary", 1, status="finished", best_checkpoint=None, metric="accuracy", best_value=None,
             final_step=1, train_runtime_s=1.0, early_stopped=False, metrics={},
             diagnosis={"kind": "plateau", "since_step": 1, "evidence": "e", "suggestion": "s", "action": "stop_keep_best"})
    log.emit("diagnosis", 1, kind="overfitting", since_step=1, evidence="eval loss rose", suggestion="stop",
             action="stop_keep_best")
    log.close()
    tail = EventTail(tmp_path / "events.jsonl")
    assert [e["type"] for e in tail.read_new()] == list(EVENT_TYPES) and tail.skipped == 0


def test_a_garbage_best_pointer_falls_back_to_the_newest_checkpoint(tmp_path):
    """checkpoints/best.json nested absurdly deep (a RecursionError, not a ValueError, in json)."""
    from ftui.export.source import _best_checkpoint

    fake = a_run(tmp_path)
    newest = fake.checkpoint("final")
    (fake.run / newest["path"] / "config.json").write_text("{}")
    for pointer in ("[" * 50_000, '{"checkpoint": 5}', '["checkpoint-10"]', "\xff"):
        (fake.run / "checkpoints" / "best.json").write_text(pointer, errors="surrogateescape")
        assert _best_checkpoint(fake.run) == fake.run / newest["path"]
        assert RunDir(fake.run).best_checkpoint() == fake.run / newest["path"]
