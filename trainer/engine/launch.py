"""Starting the trainer as its own process, in its own session.

A dropped SSH connection, a closed terminal or a crashed TUI never kills it: it is not in the
terminal's process group and its output goes to ``trainer.log`` in the run dir.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ftui.rundir.layout import RunDir

from ..recipe import load_recipe, parse_override


def spawn_trainer(recipe_path: str | None, overrides: list[str], runs_dir: Path | None = None,
                  name: str | None = None, launch=None) -> Path:
    """Validates the recipe and data here (one-line errors in this terminal), prepares the run dir,
    then starts ``python -m ftui.trainer RUN_DIR`` detached. Returns the run dir.

    ``overrides`` are ``section.key=value`` strings; ``runs_dir``, when given, replaces
    ``run.output_dir``."""
    from .session import prepare_run

    recipe = load_recipe(recipe_path, dict(parse_override(o) for o in overrides))
    if runs_dir is not None:
        recipe.run.output_dir = str(runs_dir)
    if name:
        recipe.run.name = name
    run = prepare_run(recipe)
    start_detached(run.path, launch=launch)
    return run.path


def start_detached(run_path: Path, resume: bool = False, launch=None, env: dict | None = None) -> subprocess.Popen:
    """``env`` (default: this process's) lets a sweep give each candidate its own GPU."""
    argv = [sys.executable, "-m", "ftui.trainer", str(run_path)] + (["--resume"] if resume else [])
    if launch is not None and launch.distributed:
        argv += launch.argv()
    log = open(RunDir(Path(run_path)).log, "ab")
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, env=env)
    finally:
        log.close()
