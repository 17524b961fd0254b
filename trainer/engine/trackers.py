"""``train.report_to``: the experiment trackers the HF Trainer logs to, checked without importing them.

The names are transformers' own (``INTEGRATION_TO_CALLBACK``); each maps to the modules its
``is_*_available`` check looks for, so a tracker that is not installed is refused before a run
directory exists instead of failing inside the Trainer. Standard library only.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
from pathlib import Path

from ..errors import RecipeError

# tracker -> groups of modules: the tracker is installed when every module of some group is.
TRACKERS: dict[str, tuple[tuple[str, ...], ...]] = {
    "azure_ml": (("azureml", "azureml.core", "azureml.core.run"),),
    "clearml": (("clearml",),),
    "codecarbon": (("codecarbon",),),
    "comet_ml": (("comet_ml",),),
    "dagshub": (("dagshub", "mlflow"),),
    "dvclive": (("dvclive",),),
    "flyte": (("flytekit", "flytekitplugins.deck"),),
    "mlflow": (("mlflow",),),
    "neptune": (("neptune",), ("neptune_client",)),
    "swanlab": (("swanlab",),),
    "tensorboard": (("tensorboard",), ("tensorboardX",)),
    "trackio": (("trackio",),),
    "wandb": (("wandb",),),
}
# What pip installs each (where the distribution's name differs from the tracker's).
PIP_NAMES = {"azure_ml": "azureml-sdk", "comet_ml": "comet-ml", "flyte": "flytekit flytekitplugins-deck"}


def parse_report_to(text: str) -> list[str]:
    """``"none"`` -> [], ``"all"`` -> ["all"], ``"tensorboard, wandb"`` -> ["tensorboard", "wandb"];
    an unknown name is a RecipeError naming the closest known ones."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names in ([], ["none"]):
        return []
    if names == ["all"]:
        return names
    for name in names:
        if name in ("none", "all"):
            raise RecipeError(f"train.report_to: {name!r} goes alone, not in a list ({text!r})")
        if name not in TRACKERS:
            close = difflib.get_close_matches(name, TRACKERS, n=3)
            hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
            raise RecipeError(f"train.report_to: unknown tracker {name!r} ({hint}known: none, all, "
                              f"{', '.join(TRACKERS)})")
    return list(dict.fromkeys(names))


def _module_found(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a dotted name whose parent package is missing or broken
        return False


def is_installed(tracker: str) -> bool:
    return any(all(_module_found(m) for m in group) for group in TRACKERS[tracker])


def check_installed(report_to: str) -> None:
    """Each named tracker's package can be imported ("all" means the installed ones: nothing to check)."""
    for name in parse_report_to(report_to):
        if name != "all" and not is_installed(name):
            raise RecipeError(f"train.report_to names {name!r}, but its package is not installed "
                              f"(pip install {PIP_NAMES.get(name, name)}), or set train.report_to = \"none\"")


def set_env_defaults(run_path: Path, report_to: str) -> None:
    """Keeps local tracker files inside the run directory, unless the user chose a place:
    wandb's files under <run>/wandb, mlflow's file store at <run>/mlruns."""
    names = parse_report_to(report_to)
    everything = names == ["all"]
    if everything or "wandb" in names:
        os.environ.setdefault("WANDB_DIR", str(run_path))
    if everything or "mlflow" in names or "dagshub" in names:
        os.environ.setdefault("MLFLOW_TRACKING_URI", Path(run_path, "mlruns").resolve().as_uri())
