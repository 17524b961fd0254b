"""Helpers for the cockpit's pilot tests: the screen as text, waiting for a condition, a fast watcher."""

from __future__ import annotations

import json
import time
from pathlib import Path

from ftui.tui.app import cockpit_app
from ftui.tui.watcher import RunWatcher


def fast_watcher(path: Path) -> RunWatcher:
    return RunWatcher(path, interval=0.02)


def open_cockpit(run: Path, **kwargs):
    return cockpit_app(run, watcher_factory=fast_watcher, **kwargs)


def screen_text(app) -> str:
    """What a person sees on the top screen, as plain text, one line a row."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def widget_text(app, selector: str) -> str:
    """The text inside one widget (by CSS selector) on the current screen."""
    widget = app.screen.query_one(selector)
    region = widget.content_region
    lines = screen_text(app).splitlines()
    return "\n".join(line[region.x:region.right] for line in lines[region.y:region.bottom])


async def wait_for(pilot, condition, timeout: float = 10.0, what: str = "condition") -> None:
    """Lets the app run until ``condition()`` holds; fails the test with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n--- screen ---\n{screen_text(pilot.app)}")
        await pilot.pause(0.05)


def read_commands(run: Path) -> list[dict]:
    path = Path(run) / "commands.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
