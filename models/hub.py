"""The HF hub's settings as huggingface_hub itself reads them: offline mode, the cache folder, and
whether a hub model is in that cache (found offline, never downloaded).

huggingface_hub reads its environment (HF_HUB_OFFLINE, HF_HOME, HF_HUB_CACHE, XDG_CACHE_HOME)
once, when it is imported; ftui reads the same constants, so it agrees with transformers on
where a model is and whether the network may be used. No torch here: huggingface_hub needs none.
"""

from __future__ import annotations

import os
from pathlib import Path

from huggingface_hub import constants

# transformers (< v5) still loads from these deprecated variables when they are set, in this order.
TRANSFORMERS_CACHE_VARS = ("TRANSFORMERS_CACHE", "PYTORCH_TRANSFORMERS_CACHE", "PYTORCH_PRETRAINED_BERT_CACHE")


def offline() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) as the hub reads it: 1, ON, TRUE or YES, any case."""
    return bool(constants.HF_HUB_OFFLINE)


def hub_cache_dir() -> Path:
    """The folder transformers loads hub models from: huggingface_hub's HF_HUB_CACHE (which follows
    HF_HUB_CACHE, HF_HOME and XDG_CACHE_HOME), unless a deprecated TRANSFORMERS_CACHE overrides it."""
    for name in TRANSFORMERS_CACHE_VARS:
        if os.environ.get(name):
            return Path(os.environ[name])
    return Path(constants.HF_HUB_CACHE)


def ftui_cache_dir() -> Path:
    """ftui's own cache (models it ports to HF folders): ``ftui/`` under huggingface_hub's HF_HOME,
    which follows HF_HOME and XDG_CACHE_HOME (default ~/.cache/huggingface)."""
    return Path(constants.HF_HOME) / "ftui"


def cached_file(hub_id: str, filename: str) -> Path | None:
    """``filename`` of ``hub_id``'s main revision in the local cache, or None (not there, or not a
    valid hub id). Offline: only the cache is read."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(hub_id, filename, cache_dir=hub_cache_dir())
    except (ValueError, OSError):  # not a valid repo id (HFValidationError), or a cache it may not read
        return None
    return Path(found) if isinstance(found, str) else None


def in_hub_cache(hub_id: str) -> bool:
    """Whether ``hub_id`` is downloaded: its main revision's config.json is in the cache."""
    return cached_file(hub_id, "config.json") is not None


def cached_models() -> list[str]:
    """The hub ids of the models in the local cache (huggingface_hub's scan), sorted; [] without one."""
    from huggingface_hub import scan_cache_dir

    try:
        info = scan_cache_dir(hub_cache_dir())
    except Exception:  # no cache yet (CacheNotFound) or one it cannot read: nothing is cached
        return []
    return sorted(repo.repo_id for repo in info.repos if repo.repo_type == "model")
