"""The compare screen through Textual's pilot, against three runs written by the fake trainer:
given a sweep of runs, when the user moves, opens, stops or promotes, then the screen, the
runs' commands.jsonl and sweep.json show it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_trainer import FakeTrainer
from hypothesis import HealthCheck, given, settings, strategies as st
from test_adversarial_readers import append, event_like, lines
from tui_pilot import fast_watcher, read_commands, screen_text, wait_for, widget_text

from ftui.rundir.compare import mark_winner, ranking_metric, read_sweep, resolve_targets, standings
from ftui.rundir.errors import RunDirError
from ftui.rundir.events import EventTail
from ftui.rundir.events_schema import Invalid, check_event
from ftui.rundir.runstate import RunState
from ftui.tui.app import compare_app
from ftui.tui.cli import main
from ftui.tui.compare_screen import CandidateCockpit, CompareScreen
from ftui.tui.dialogs import ConfirmStop
from ftui.tui.leaderboard import Leaderboard, _cells
from ftui.tui.messages import CandidateRead, RunRead, TrainerHealth
from ftui.tui.overlay_chart import OverlayChart
from ftui.tui.overlay_chart import render_overlay
from ftui.tui.promote import StepsPrompt, parse_steps, promote_argv

# name: (accuracy at step 50, at step 100, samples/s, finished)
RUNS = {"lr-3e-5": (0.80, 0.86, 51.0, True), "lr-1e-4": (0.91, 0.89, 62.0, True), "lr-5e-4": (0.70, None, 75.0, False)}


def candidate(root: Path, name: str) -> FakeTrainer:
    """100 steps (50 for the live one) with an eval and a checkpoint every 50, values chosen per run."""
    first, second, rate, finished = RUNS[name]
    fake = FakeTrainer(root / name, total_steps=100).start()
    for value in (first, second):
        if value is None:
            break
        fake.steps(50)
        fake.log.emit("step", fake.step_no, loss=0.3, samples_per_s=rate, total_steps=100)
        fake.log.emit("eval", fake.step_no, metrics={"loss": 1 - value, "accuracy": value})
        fake.checkpoint("steps", value)
    if finished:
        fake.finish()
    else:
        fake.claim_process()  # the test process stands in as its live trainer
    return fake


@pytest.fixture
def sweep(tmp_path) -> Path:
    root = tmp_path / "sweep"
    fakes = {name: candidate(root, name) for name in RUNS}
    fakes["lr-1e-4"].log.emit("diagnosis", 100, kind="overfitting", since_step=50, evidence="eval loss rose",
                              suggestion="stop and keep the best checkpoint", action="stop_keep_best")
    (root / "sweep.json").write_text(json.dumps({
        "format": "ftui-sweep", "v": 1, "metric": "accuracy", "greater_is_better": True, "winner": None,
        "candidates": [{"name": n, "run": n, "params": {"lr": n[3:]}, "status": "done", "rung": 0} for n in RUNS]}))
    return root


def open_compare(root: Path, launcher=None):
    found = resolve_targets([str(root)])
    return compare_app([r.path for r in found.runs], found.sweep, watcher_factory=fast_watcher, launcher=launcher)


def board_text(app) -> str:
    return widget_text(app, "#leaderboard")


async def loaded(pilot) -> None:
    await wait_for(pilot, lambda: "lr-5e-4" in board_text(pilot.app) and "overfitting" in board_text(pilot.app),
                   what="all three runs on the leaderboard")


def test_standings_rank_by_the_best_value_with_their_facts(sweep):
    states = [RunState(name=r.name).read(EventTail(r.events)) for r in resolve_targets([str(sweep)]).runs]
    metric, greater, note = ranking_metric(states, read_sweep(sweep))
    rows = standings(states, metric, greater)
    assert (metric, greater, note) == ("accuracy", True, "")
    assert [(r.name, r.value, r.best_step) for r in rows] == [
        ("lr-1e-4", 0.91, 50), ("lr-3e-5", 0.86, 100), ("lr-5e-4", 0.70, 50)]
    assert [r.samples_per_s for r in rows] == [62.0, 51.0, 75.0]
    assert rows[0].diagnosis == "overfitting" and rows[1].diagnosis is None
    assert rows[0].params_trainable == 4_400_000 and rows[0].checkpoint_bytes == 17_600_000


def test_loss_ranks_lower_first_and_a_different_metric_is_said():
    a, b = RunState(name="a"), RunState(name="b")
    a.apply({"v": 1, "type": "run_start", "t": 1.0, "step": 0, "metric": "loss"})
    b.apply({"v": 1, "type": "run_start", "t": 1.0, "step": 0, "metric": "f1_macro"})
    a.apply({"v": 1, "type": "eval", "t": 2.0, "step": 10, "metrics": {"loss": 0.5, "f1_macro": 0.2}})
    b.apply({"v": 1, "type": "eval", "t": 2.0, "step": 10, "metrics": {"loss": 0.3, "f1_macro": 0.9}})
    metric, greater, note = ranking_metric([a, b])
    assert (metric, greater) == ("loss", False) and "f1_macro" in note and "ranked by loss" in note
    assert [r.name for r in standings([a, b], metric, greater)] == ["b", "a"]


async def test_80x24_shows_the_overlaid_curves_and_every_column(sweep):
    app = open_compare(sweep)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        board = board_text(app).splitlines()
        assert board[0].split() == ["#", "run", "acc", "@step", "smp/s", "params", "ckpt", "status", "diagnosis"]
        assert [line.split()[2] for line in board[1:4]] == ["lr-1e-4", "lr-3e-5", "lr-5e-4"]
        assert board[1].split()[3:] == ["0.91", "50", "62.0", "4.4M", "16.8M", "✔", "done", "overfitting"]
        assert board[3].split()[3:8] == ["0.7", "50", "75.0", "4.4M", "16.8M"] and "running" in board[3]
        screen = screen_text(app)
        assert "ranked by best accuracy (higher is better)" in screen
        for chart in ("#loss-overlay", "#metric-overlay"):
            await wait_for(pilot, lambda: sum("\u2801" <= ch <= "\u28ff" for ch in widget_text(app, chart)) > 20,
                           what=f"{chart} drawn")
        assert "train loss" in widget_text(app, "#loss-overlay")
        assert "eval accuracy" in widget_text(app, "#metric-overlay")
        assert all(len(line) <= 80 for line in screen.splitlines())


async def test_enter_opens_the_selected_run_and_escape_comes_back(sweep):
    app = open_compare(sweep)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.press("down")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CandidateCockpit), what="the cockpit")
        assert app.screen.run_path == sweep / "lr-3e-5"
        await wait_for(pilot, lambda: "lr-3e-5" in widget_text(app, "#header"), what="the cockpit's header")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), what="back on the compare screen")
        assert app.screen.query_one(Leaderboard).selected == 0  # still on lr-3e-5 (index 0 in sweep order)
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, CandidateCockpit), what="o opens it too")


async def test_s_stops_the_selected_live_run_only_after_yes(sweep):
    app = open_compare(sweep)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.press("down", "down", "s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmStop), what="the stop prompt")
        await pilot.press("n")
        await pilot.pause()
        assert read_commands(sweep / "lr-5e-4") == []
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmStop), what="the stop prompt again")
        await pilot.press("y")
        await wait_for(pilot, lambda: read_commands(sweep / "lr-5e-4"), what="a stop command")
        assert [c["cmd"] for c in read_commands(sweep / "lr-5e-4")] == ["stop"]
        assert read_commands(sweep / "lr-1e-4") == read_commands(sweep / "lr-3e-5") == []
        await pilot.press("up", "s")  # a finished run: nothing to stop, no prompt
        await pilot.pause()
        assert isinstance(app.screen, CompareScreen) and read_commands(sweep / "lr-3e-5") == []


async def test_p_promotes_the_winner_marks_it_and_opens_its_cockpit(sweep):
    started = []
    app = open_compare(sweep, launcher=lambda path, steps: started.append((path, steps)))
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.press("down", "p")  # the winner whatever the cursor is on
        await wait_for(pilot, lambda: isinstance(app.screen, StepsPrompt), what="the steps prompt")
        assert app.screen.query_one("#steps-input").value == "200"  # twice the 100 planned
        await pilot.press("backspace", "backspace", "backspace", *"300", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CandidateCockpit), what="the winner's cockpit")
        assert started == [(sweep / "lr-1e-4", 300)]
        assert app.screen.run_path == sweep / "lr-1e-4" and app.screen.started_here
        data = json.loads((sweep / "sweep.json").read_text())
        assert data["winner"] == "lr-1e-4" and data["candidates"][0]["params"] == {"lr": "3e-5"}


def test_a_promotion_is_the_resume_command_and_a_budget_must_grow():
    argv = promote_argv(Path("runs/a"), 2000)
    assert argv[1:] == ["-m", "ftui.tui.cli", "train", "--resume", "runs/a", "--max-steps", "2000", "--headless"]
    assert parse_steps(" 2_000 ", 100) == 2000
    for bad in ("abc", "100", "-5"):
        with pytest.raises(ValueError):
            parse_steps(bad, 100)


def test_a_sweep_folder_lists_runs_in_sweep_json_order(sweep, tmp_path):
    found = resolve_targets([str(sweep)])
    assert found.sweep == sweep and [r.name for r in found.runs] == list(RUNS)
    (sweep / "sweep.json").write_text("{not json")  # a broken sweep.json only loses its order
    assert sorted(r.name for r in resolve_targets([str(sweep)]).runs) == sorted(RUNS)
    assert not mark_winner(sweep, "lr-1e-4") and (sweep / "sweep.json").read_text() == "{not json"
    runs = resolve_targets([str(sweep / "lr-5e-4"), str(sweep / "lr-3e-5"), str(sweep / "lr-5e-4")])
    assert runs.sweep is None and [r.name for r in runs.runs] == ["lr-5e-4", "lr-3e-5"]


@pytest.mark.parametrize("args", [["empty"], ["sweep/lr-3e-5", "nowhere"], ["sweep/lr-3e-5", "notes.txt"]])
def test_no_runs_or_a_non_run_is_one_line_and_exit_2(sweep, tmp_path, monkeypatch, capsys, args):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("hi")
    assert main(["watch", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ftui: ") and "Traceback" not in err
    with pytest.raises(RunDirError):
        resolve_targets(args)


def test_watch_dispatches_one_run_to_the_cockpit_and_several_to_compare(sweep, monkeypatch):
    import ftui.tui.app as app_module

    calls = []
    monkeypatch.setattr(app_module, "run_cockpit", lambda path, started_here: calls.append(("cockpit", path)) or 0)
    monkeypatch.setattr(app_module, "run_compare", lambda paths, sweep: calls.append(("compare", paths, sweep)) or 0)
    assert main(["watch", str(sweep / "lr-3e-5")]) == 0
    assert main(["watch", str(sweep / "lr-3e-5"), str(sweep / "lr-1e-4")]) == 0
    assert main(["watch", str(sweep)]) == 0
    assert calls[0] == ("cockpit", sweep / "lr-3e-5")
    assert calls[1] == ("compare", [sweep / "lr-3e-5", sweep / "lr-1e-4"], None)
    assert calls[2][0] == "compare" and calls[2][2] == sweep and len(calls[2][1]) == 3


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(junk=st.lists(lines, min_size=3, max_size=3))
def test_no_event_contents_in_any_run_break_the_leaderboard_or_charts(tmp_path_factory, junk):
    root = tmp_path_factory.mktemp("junk")
    states = []
    for name, extra in zip(RUNS, junk):
        fake = candidate(root, name)
        append(fake.run, extra)
        states.append(RunState(name=name).read(EventTail(fake.run / "events.jsonl")))
    metric, greater, _ = ranking_metric(states)
    rows = standings(states, metric, greater)
    assert sorted(r.index for r in rows) == [0, 1, 2]
    for rank, row in enumerate(rows, 1):
        _cells(rank, row, 12, True)
    points = [(i, *zip(*s.train_loss)) if s.train_loss else (i, [], []) for i, s in enumerate(states)]
    import numpy as np

    render_overlay("loss", [(i, np.asarray(x, float), np.asarray(y, float)) for i, x, y in points], 38, 14)


async def test_the_screen_shows_runs_with_unreadable_lines(sweep):
    for name in RUNS:
        append(sweep / name, ['{"v":1,"type":"diagnosis","t":1.0,"step":3,"kind":"bored"}', "[" * 5000, b"\xff\xfe"])
    app = open_compare(sweep)
    async with app.run_test(size=(80, 24)) as pilot:
        # Each run's watcher reads on its own: wait for the order rather than for the last row to appear.
        order = lambda: [line.split()[2] for line in board_text(app).splitlines()[1:4] if len(line.split()) > 2]  # noqa: E731
        await wait_for(pilot, lambda: order() == ["lr-1e-4", "lr-3e-5", "lr-5e-4"], what="the ranked leaderboard")


async def test_no_event_contents_fed_to_any_run_crash_the_screen(sweep):
    """Hypothesis inside one running app: each example feeds checked events of random contents (and
    random health) to random runs, then every widget redraws; the state piles up across examples."""
    app = open_compare(sweep)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        screen = app.screen
        batches = st.lists(st.tuples(st.integers(0, 2), st.lists(event_like, max_size=6),
                                     st.none() | st.booleans(), st.none() | st.floats(0, 1e6)), max_size=4)

        @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.data_too_large])
        @given(batches=batches)
        def feed(batches):
            for index, objs, alive, silent in batches:
                events = []
                for obj in objs:
                    try:
                        events.append(check_event(obj))
                    except Invalid:
                        pass
                screen.on_candidate_read(CandidateRead(index, RunRead(events, [], len(objs) - len(events), "x")))
                screen.on_candidate_read(CandidateRead(index, TrainerHealth(alive, silent, [])))
            for chart in screen.query(OverlayChart):
                chart.changed()
                chart.render()
            screen.query_one(Leaderboard).render_lines(screen.query_one(Leaderboard).region)

        feed()
        await pilot.pause()
        assert isinstance(app.screen, CompareScreen) and len(screen.rows) == 3


async def test_candidates_the_sweep_starts_later_join_the_board(tmp_path, monkeypatch):
    from ftui.tui import compare_screen

    monkeypatch.setattr(compare_screen, "DISCOVER_S", 0.1)
    root = tmp_path / "sweep"
    root.mkdir()
    (root / "sweep.json").write_text(json.dumps({
        "format": "ftui-sweep", "v": 1, "metric": "accuracy", "greater_is_better": True, "winner": None,
        "candidates": [{"name": n, "run": n, "params": {}, "status": "pending", "rung": 0} for n in RUNS]}))
    app = open_compare(root)  # nothing started yet: an empty board, not an error
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "(3 waiting)" in widget_text(app, "#compare-title"), what="three waiting")
        candidate(root, "lr-3e-5")
        await wait_for(pilot, lambda: "lr-3e-5" in board_text(app) and "(2 waiting)" in widget_text(app, "#compare-title"),
                       what="the first candidate on the board")
        candidate(root, "lr-1e-4")
        await wait_for(pilot, lambda: board_text(app).splitlines()[1].split()[2] == "lr-1e-4",
                       what="the second candidate, ranked first")
        assert "lr-5e-4" not in board_text(app)
