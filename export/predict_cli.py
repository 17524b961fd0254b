"""`ftui predict BUNDLE inputs... | --file F [--json]`: predictions from an export bundle, torch-free.

The bundle's manifest names its task; that task's predictor module (ftui.rundir.tasks) prints its own lines.
"""

from __future__ import annotations

from ftui.rundir.tasks import DEFAULT_TASK, TASKS, resolve


def run(args) -> int:
    """Bad bundles and empty input raise PredictorError (one line, exit 2)."""
    from .predictor import PredictorError, read_manifest

    task = read_manifest(args.bundle).get("task", DEFAULT_TASK)
    if task not in TASKS:
        raise PredictorError(f"{args.bundle}: a {task!r} bundle; this ftui predicts {', '.join(TASKS)}")
    return resolve(TASKS[task].predictor).run_cli(args.bundle, args.texts, args.file, args.json)
