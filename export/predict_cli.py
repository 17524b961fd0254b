"""`ftui predict BUNDLE inputs... | --file F [--json]`: predictions from an export bundle, torch-free.

The bundle's manifest names its task; each task's predictor module prints its own lines.
"""

from __future__ import annotations

import importlib

PREDICTORS = {
    "sequence-classification": "ftui.export.predictor",
    "token-classification": "ftui.export.predictor_ner",
    "image-classification": "ftui.export.predictor_image",
}


def run(args) -> int:
    """Bad bundles and empty input raise PredictorError (one line, exit 2)."""
    from .predictor import PredictorError, read_manifest

    task = read_manifest(args.bundle).get("task", "sequence-classification")
    if task not in PREDICTORS:
        raise PredictorError(f"{args.bundle}: a {task!r} bundle; this ftui predicts {', '.join(PREDICTORS)}")
    return importlib.import_module(PREDICTORS[task]).run_cli(args.bundle, args.texts, args.file, args.json)
