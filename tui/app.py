"""The Textual app behind `ftui`, `ftui train` and `ftui watch`: a thin shell around screens.

``run_cockpit`` opens the cockpit on one run directory; ``run_home`` lists runs and opens
the cockpit on the chosen one; ``run_compare`` opens the compare screen on several runs. Each blocks until the user leaves and return an exit code.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Callable

from textual.app import App

from ftui.rundir.layout import open_run

from .cockpit import CockpitScreen
from .messages import CockpitClosed, OpenRun
from .watcher import RunWatcher


class FtuiApp(App):
    """Shows its first screen; opens cockpits on request; leaves when the last one closes."""

    CSS_PATH = "cockpit.tcss"
    TITLE = "ftui"
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, first_screen: Callable[[], object], watcher_factory=RunWatcher) -> None:
        super().__init__()
        self._first_screen = first_screen
        self.watcher_factory = watcher_factory

    def on_mount(self) -> None:
        self.push_screen(self._first_screen())

    def on_open_run(self, message: OpenRun) -> None:
        path = Path(message.path)
        self.push_screen(CockpitScreen(path, self.watcher_factory(path), message.started_here))

    def on_cockpit_closed(self, message: CockpitClosed) -> None:
        # the default screen plus a home screen below the cockpit: go back home
        if len(self.screen_stack) > 2:
            self.pop_screen()
        else:
            self.exit(message.reason)


def cockpit_app(run_path: Path, started_here: bool = False, watcher_factory=RunWatcher) -> FtuiApp:
    run_path = Path(run_path)
    return FtuiApp(lambda: CockpitScreen(run_path, watcher_factory(run_path), started_here),
                   watcher_factory)


def home_app(runs_dir: Path, spawn=None, watcher_factory=RunWatcher) -> FtuiApp:
    from .home_screen import HomeScreen

    return FtuiApp(lambda: HomeScreen(Path(runs_dir), spawn), watcher_factory)


def farewell(reason: str | None, run_path: Path) -> str | None:
    """What to print in the shell after the cockpit closes."""
    watch = f"ftui watch {shlex.quote(str(run_path))}"
    if reason == "detached":
        return f"ftui: detached; {run_path.name} goes on training. Re-attach: {watch}"
    if reason == "stopped":
        return f"ftui: asked {run_path.name} to stop (it saves a checkpoint first). Follow it: {watch}"
    return None


def run_cockpit(run_path: Path, *, started_here: bool = False) -> int:
    """Opens the cockpit on a run directory until the user detaches, stops or quits."""
    run_path = Path(run_path)
    if not started_here:
        open_run(run_path)  # a one-line RunDirError for a path that is not a run
    app = cockpit_app(run_path, started_here)
    reason = app.run()
    words = farewell(reason, run_path)
    if words:
        print(words)
    return app.return_code or 0


def compare_app(run_paths: list, sweep: Path | None = None, watcher_factory=RunWatcher, launcher=None) -> FtuiApp:
    from .compare_screen import CompareScreen

    extra = {"launcher": launcher} if launcher else {}
    return FtuiApp(lambda: CompareScreen(run_paths, watcher_factory, sweep, **extra), watcher_factory)


def run_compare(run_paths: list, sweep: Path | None = None) -> int:
    """The compare screen on several runs (or a sweep's) until the user quits."""
    app = compare_app([Path(p) for p in run_paths], sweep)
    app.run()
    return app.return_code or 0


def run_home(runs_dir: Path) -> int:
    """The home screen: recent runs; enter opens the cockpit, n starts the default run."""
    app = home_app(Path(runs_dir))
    app.run()
    return app.return_code or 0
