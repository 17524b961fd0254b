"""Settings from `accelerate config`, which ftui's own launch applies.

Only `accelerate launch` reads accelerate's config file: the Accelerator inside the HF Trainer
never does, so a job ftui starts through torchrun would silently ignore it. ftui reads the same
file `accelerate launch` reads by default ($HF_HOME/accelerate/default_config.yaml, HF_HOME
defaulting to $XDG_CACHE_HOME/huggingface, then ~/.cache/huggingface) and applies its process
layout (num_processes, num_machines, machine_rank, main_process_ip, main_process_port) as the
defaults of --nproc, --nnodes, --node-rank, --master-addr, --master-port, and its mixed_precision
as what precision = "auto" picks on a GPU. Flags and an explicit train.precision still win.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import FtuiError

MULTI_PROCESS = ("MULTI_GPU", "MULTI_CPU", "MULTI_NPU", "MULTI_XPU", "MULTI_MLU", "MULTI_MUSA", "MULTI_HPU",
                 "MULTI_SDAA", "MULTI_NEURON", "DEEPSPEED", "FSDP", "MEGATRON_LM")
PRECISIONS = {"no": "fp32", "fp16": "fp16", "bf16": "bf16"}  # fp8 has no ftui precision: left to ftui's choice


def config_path() -> Path:
    """Where `accelerate config` saves (accelerate/commands/config/config_args.py)."""
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(os.path.expanduser(home)) / "accelerate" / "default_config.yaml"


def read_config() -> dict:
    """The config's keys, or {} when there is none; a file that does not parse is a one-line error."""
    path = config_path()
    if not path.is_file():
        return {}
    import yaml  # PyYAML: a dependency of transformers and accelerate

    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as e:
        raise FtuiError(f"{path}: cannot read this accelerate config ({type(e).__name__}); fix or remove it") from None
    except (ValueError, yaml.YAMLError) as e:  # a file `accelerate launch` could not read either
        raise FtuiError(f"{path}: not valid YAML or JSON ({' '.join(str(e).split())[:200]}); fix or remove it") from None
    return data if isinstance(data, dict) else {}


def _count(config: dict, key: str, default: int | None) -> int | None:
    value = config.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FtuiError(f"{config_path()}: {key} must be a whole number, not {value!r}")
    return value


def launch_defaults(config: dict | None = None) -> dict:
    """The Launch fields the config sets: {"nproc", "nnodes", "node_rank", "master_addr", "master_port"}."""
    config = read_config() if config is None else config
    if not config:
        return {}
    out: dict = {}
    machines = _count(config, "num_machines", 1) or 1
    processes = _count(config, "num_processes", None)
    if str(config.get("distributed_type", "NO")).upper() not in MULTI_PROCESS:
        processes = 1  # distributed_type NO: one process, whatever num_processes says
    if processes:
        out["nproc"] = max(processes // machines, 1)  # accelerate: num_processes counts all machines
    if machines > 1:
        out["nnodes"] = machines
        out["node_rank"] = _count(config, "machine_rank", 0)
        if config.get("main_process_ip"):
            out["master_addr"] = str(config["main_process_ip"])
    port = _count(config, "main_process_port", None)
    if port:
        out["master_port"] = port
    return out


def accelerate_precision() -> str | None:
    """The config's mixed_precision as an ftui precision (fp32, fp16, bf16), or None."""
    try:
        value = read_config().get("mixed_precision")
    except FtuiError:
        return None  # the launch already said so; the trainer process falls back to ftui's choice
    return PRECISIONS.get(str(value).lower()) if value is not None else None
