"""The home screen: recent runs with live ones marked; enter opens the cockpit, n starts a run."""

from __future__ import annotations

from fake_trainer import FakeTrainer
from tui_pilot import fast_watcher, screen_text, wait_for, widget_text

from ftui.tui.app import home_app
from ftui.tui.cockpit import CockpitScreen
from ftui.tui.home_screen import HomeScreen, scan_runs


def make_runs(runs_dir):
    done = FakeTrainer(runs_dir / "old-finished", total_steps=60).start()
    done.write_history(60, eval_every=30)
    done.finish()
    live = FakeTrainer(runs_dir / "live-one", total_steps=300).start()
    live.write_history(45, eval_every=30)
    live.claim_process()
    (runs_dir / "notes").mkdir()  # not a run: left out
    return done, live


def test_scan_lists_runs_newest_first_with_live_ones_marked(tmp_path):
    make_runs(tmp_path)
    rows = scan_runs(tmp_path)
    assert [r.path.name for r in rows] == ["live-one", "old-finished"]
    assert [r.live for r in rows] == [True, False]
    assert rows[1].status == "finished" and rows[1].best.startswith("accuracy 0.")
    assert scan_runs(tmp_path / "nowhere") == []


async def test_enter_opens_the_cockpit_and_detach_comes_back_home(tmp_path):
    make_runs(tmp_path)
    app = home_app(tmp_path, watcher_factory=fast_watcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "live-one" in screen_text(app), what="the run list")
        text = screen_text(app)
        assert "●" in next(line for line in text.splitlines() if "live-one" in line)
        assert "FINISHED" in next(line for line in text.splitlines() if "old-finished" in line)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CockpitScreen), what="the cockpit")
        await wait_for(pilot, lambda: "step 45/300" in widget_text(app, "#header"))
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), what="home again")


async def test_n_starts_the_default_run_and_opens_its_cockpit(tmp_path):
    calls = []

    def spawn(recipe, overrides, runs_dir, name=None):
        calls.append((recipe, overrides, runs_dir))
        fake = FakeTrainer(runs_dir / "fresh-run", total_steps=100).claim_process().start()
        fake.steps(7)
        return fake.run

    app = home_app(tmp_path, spawn=spawn, watcher_factory=fast_watcher)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "no runs yet" in screen_text(app), what="the empty hint")
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, CockpitScreen), what="the cockpit")
        assert app.screen.started_here
        await wait_for(pilot, lambda: "step 7/100" in widget_text(app, "#header"))
    assert calls == [(None, [], tmp_path)]


async def test_a_failed_start_is_said_and_home_stays(tmp_path):
    def spawn(*args, **kwargs):
        raise RuntimeError("no space left on device")

    app = home_app(tmp_path, spawn=spawn, watcher_factory=fast_watcher)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: "no space left" in screen_text(app), what="the error")
        assert isinstance(app.screen, HomeScreen)
