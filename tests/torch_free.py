"""A Python that cannot import torch or transformers: proves a bundle's predictor needs only what it says."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEXT_PACKAGES = ("numpy", "numpy.libs", "onnxruntime", "tokenizers")
IMAGE_PACKAGES = ("numpy", "numpy.libs", "onnxruntime", "PIL", "pillow.libs")


def torch_free_python(root: Path, packages: tuple[str, ...] = TEXT_PACKAGES) -> Path:
    """A venv that sees only ``packages`` (symlinked from this venv) and ftui's export, tui and rundir folders."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    deps = root / "deps"
    (deps / "ftui").mkdir(parents=True)
    site = Path(sysconfig.get_paths()["purelib"])
    for name in packages:
        if (site / name).exists():
            (deps / name).symlink_to(site / name)
    for sub in ("export", "tui", "rundir"):  # rundir: the error root and event schema, standard library only
        (deps / "ftui" / sub).symlink_to(REPO / sub)
    python = venv / "bin" / "python"
    venv_site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip()
    Path(venv_site, "torch_free.pth").write_text(str(deps) + "\n")
    return python


def clean_env() -> dict:
    """This process's environment without what would let the venv see this one's packages."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def assert_cannot_import(python: Path, modules: tuple[str, ...], env: dict) -> None:
    for module in modules:
        probe = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True, text=True, env=env)
        assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr, module
