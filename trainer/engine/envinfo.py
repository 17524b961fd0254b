"""env.json: what a run ran on, so it can be reproduced and compared."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import time
from importlib import metadata


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=2)
        return out.stdout.strip() if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def collect_env(seed: int, argv: list[str] | None = None, training_args=None) -> dict:
    """Versions, host and hardware; with ``training_args``, the run's TrainingArguments values that
    differ from HF's defaults, and the `accelerate config` file the launch read, if any."""
    import torch

    from .accelerate_config import config_path
    from .hf_args import non_default_values

    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "argv": argv if argv is not None else sys.argv,
        "cwd": os.getcwd(),
        "seed": seed,
        "git_commit": _git_commit(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpus": gpus,
        "versions": {p: _version(p) for p in (
            "ftui", "torch", "transformers", "accelerate", "tokenizers", "safetensors", "numpy",
            "onnx", "onnxruntime", "optimum-onnx", "textual")},
        "accelerate_config": str(config_path()) if config_path().is_file() else None,
        "training_args": non_default_values(training_args) if training_args is not None else None,
    }
