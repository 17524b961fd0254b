"""One set of rules for the run directory: trainer, cockpit, `ftui runs` and export pick the same runs
and the same best checkpoint (rundir/summary.py, rundir/layout.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ftui.export.cli import default_source
from ftui.export.errors import ExportError
from ftui.export.source import _best_checkpoint
from ftui.rundir.layout import RunDir
from ftui.rundir.summary import list_runs, newest_run


def make_run(runs: Path, name: str, events: bool = True, mtime: float | None = None) -> Path:
    run = runs / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "recipe.toml").write_text("[data]\nmax_length = 32\n")
    if events:
        (run / "events.jsonl").write_text('{"v": 1, "type": "run_start", "t": 1.0, "step": 0}\n')
    for path in (run / "events.jsonl", run) if mtime is not None else ():
        if path.exists():
            os.utime(path, (mtime, mtime))
    return run


def make_checkpoint(run: Path, step: int, state: bool = True, config: bool = True) -> Path:
    folder = run / "checkpoints" / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    if state:
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    if config:
        (folder / "config.json").write_text("{}")
    return folder


def test_export_watch_and_home_take_the_same_newest_run(tmp_path):
    """Export went by the event log alone, the home screen by the log or the folder: now all by both."""
    from ftui.tui.home_screen import scan_runs

    (tmp_path / "not-a-run").mkdir()
    make_run(tmp_path, "old", mtime=1_000_000)
    make_run(tmp_path, "new", mtime=3_000_000)
    make_run(tmp_path, "setting-up", events=False, mtime=2_000_000)  # recipe written, no event yet
    assert [r.name for r in list_runs(tmp_path)] == ["new", "setting-up", "old"]
    assert [r.path.name for r in scan_runs(tmp_path)] == ["new", "setting-up", "old"]
    assert default_source(tmp_path) == newest_run(tmp_path).path == tmp_path / "new"
    os.utime(tmp_path / "setting-up", (4_000_000, 4_000_000))  # a run just made: `ftui watch` follows it
    assert default_source(tmp_path) == newest_run(tmp_path).path == tmp_path / "setting-up"


def test_a_run_with_only_its_recipe_is_a_run_to_export_too(tmp_path):
    """export used to glob */events.jsonl alone and said 'no runs' where `ftui runs` listed one."""
    make_run(tmp_path, "setting-up", events=False)
    assert default_source(tmp_path) == tmp_path / "setting-up"
    with pytest.raises(ExportError, match="no complete checkpoint yet"):
        _best_checkpoint(default_source(tmp_path))
    with pytest.raises(ExportError, match="no runs in"):
        default_source(tmp_path / "empty")


@pytest.mark.parametrize("pointer", ["checkpoint-5", "../../elsewhere/checkpoints/checkpoint-9", "", "checkpoint-7"])
def test_a_pointer_to_what_is_not_a_complete_checkpoint_is_ignored_by_every_reader(tmp_path, pointer):
    """best.json naming a torn folder (no trainer_state.json), one outside the run, or a pruned one:
    RunDir (trainer, cockpit) took any folder, export any folder with a config.json; now both fall back
    to the newest complete checkpoint."""
    run = make_run(tmp_path, "run")
    make_checkpoint(run, 3)
    make_checkpoint(run, 5, state=False)
    make_checkpoint(make_run(tmp_path, "elsewhere"), 9)
    (run / "checkpoints" / "best.json").write_text(json.dumps({"checkpoint": pointer}))
    expected = run / "checkpoints" / "checkpoint-3"
    assert RunDir(run).best_checkpoint() == expected
    assert _best_checkpoint(run) == expected


def test_a_complete_pointer_wins_over_newer_checkpoints(tmp_path):
    run = make_run(tmp_path, "run")
    best = make_checkpoint(run, 3)
    make_checkpoint(run, 6)
    (run / "checkpoints" / "best.json").write_text(json.dumps({"checkpoint": "checkpoint-3"}))
    assert RunDir(run).best_checkpoint() == _best_checkpoint(run) == best


def test_a_best_checkpoint_without_its_config_is_one_line_from_export(tmp_path):
    from ftui.export.source import resolve_source

    run = make_run(tmp_path, "run")
    make_checkpoint(run, 4, config=False)
    with pytest.raises(ExportError, match="checkpoint-4: no config.json") as e:
        resolve_source(run)
    assert "\n" not in str(e.value) and e.value.exit_code == 2
