"""Fine-tuning strategies: which parameters train, and how.

    full     every parameter trains (the default)
    frozen   the pretrained backbone is frozen (BatchNorm statistics too); only the new head trains
    llrd     every parameter trains, with layer-wise lr decay (the optimizer groups: ftui_trainer.py)
    lora     the backbone is frozen; low-rank adapters (peft) on its attention layers and the new
             head train. Every LoRA checkpoint also holds the adapters merged into a plain HF model,
             so `ftui export` and anyone's `from_pretrained` need no peft.

``check_strategy`` runs before a run directory exists (no torch): LoRA targets that name no
module of the pretrained weights are a one-line RecipeError there, not a failed run.
"""

from __future__ import annotations

import json
from pathlib import Path

from ftui.models.checks import read_safetensors_header
from ftui.models.errors import ModelError, first_line
from ftui.rundir.checkpoints import ADAPTER_DIR  # in a LoRA checkpoint: what peft saved, what resume loads
from ftui.rundir.tasks import DEFAULT_TASK, TASKS

from ..errors import CheckpointError, RecipeError

# Attention projections to adapt when peft knows no defaults for the model type (BERT-likes, ViT,
# DistilBERT, T5-likes, LLaMA-likes): the first pair the model has wins.
FALLBACK_TARGETS = (("query", "value"), ("q_proj", "v_proj"), ("q_lin", "v_lin"), ("q", "v"))
ADAPTER_FILE = "adapter_model.safetensors"
ADAPTER_FILES = (ADAPTER_FILE, "adapter_config.json", "README.md")


def apply_strategy(model, train, task: str = DEFAULT_TASK):
    """Returns the model to train under ``train.strategy`` (the same object, or a wrapped one)."""
    if train.strategy == "frozen":
        for param in model.base_model.parameters():
            param.requires_grad = False
        keep_batchnorm_in_eval(model.base_model)
    if train.strategy == "lora":
        return wrap_lora(model, train, task)
    return model


def keep_batchnorm_in_eval(backbone) -> int:
    """A frozen backbone is a fixed feature extractor: its BatchNorm layers normalise with the
    pretrained running statistics and never update them, though Trainer puts the model in train
    mode every step. Returns how many layers are held in eval mode."""
    import torch

    layers = [m for m in backbone.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for layer in layers:
        layer.register_forward_pre_hook(_eval_mode)
    return len(layers)


def _eval_mode(module, args) -> None:
    module.training = False  # a hook, not a flag set once: model.train() sets it back every step


# --- LoRA: wrapping ------------------------------------------------------------------------

def wrap_lora(model, train, task: str):
    """The model wrapped by peft: adapters on ``train.lora_targets`` (or the usual ones for the
    model type), the new head trained in full; everything else frozen."""
    import peft

    targets = parse_targets(train.lora_targets)
    if targets:
        _refuse_bad_targets(targets, _model_modules(model), _model_words(model))
    else:
        targets = default_targets(model)
    config = peft.LoraConfig(r=train.lora_r, lora_alpha=train.lora_alpha, lora_dropout=train.lora_dropout,
                             target_modules=targets, modules_to_save=head_modules(model) or None,
                             task_type=peft_task_type(task))
    try:
        return peft.get_peft_model(model, config)
    except ValueError as e:  # e.g. a target that is a LayerNorm: peft adapts Linear/Conv/Embedding only
        raise RecipeError(f"train.lora_targets = {','.join(targets)!r}: {first_line(e)}") from None


def peft_task_type(task: str) -> str | None:
    """The task table's peft task type (SEQ_CLS, TOKEN_CLS, ...); with one, peft also trains and saves the head."""
    spec = TASKS.get(task)
    return spec.peft_type if spec else None


def parse_targets(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def head_modules(model) -> list[str]:
    """The top-level modules outside the pretrained backbone that hold weights: the new head
    (``classifier``; DistilBERT's ``pre_classifier`` too). They train in full under LoRA."""
    prefix = getattr(model, "base_model_prefix", "")
    return [name for name, child in model.named_children()
            if name != prefix and next(child.parameters(), None) is not None]


def default_targets(model) -> list[str]:
    """peft's defaults for the model type, else the first attention pair the model has, else
    every Linear and ungrouped Conv2d layer of the backbone (a conv net's)."""
    import torch
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as KNOWN

    known = KNOWN.get(getattr(model.config, "model_type", ""))
    if isinstance(known, list):
        return list(known)
    head = head_modules(model)
    backbone = [(n, m) for n, m in model.named_modules() if n and n.split(".", 1)[0] not in head]
    leaves = {n.rsplit(".", 1)[-1] for n, m in backbone if isinstance(m, torch.nn.Linear)}
    for pair in FALLBACK_TARGETS:
        if set(pair) <= leaves:
            return list(pair)
    targets = sorted(leaves) + conv_targets(backbone)
    if targets:
        return targets
    raise RecipeError(f"train.strategy = 'lora': {_model_words(model)} has no Linear or Conv2d layer to adapt; "
                      "use strategy full or frozen")


def conv_targets(backbone: list[tuple[str, object]]) -> list[str]:
    """Name suffixes that select exactly the backbone's ungrouped Conv2d layers. peft adapts a
    grouped conv (MobileNet's depthwise 3x3) only where the rank divides by its groups, so those
    stay frozen: the shortest suffixes (``reduce_1x1.convolution``) that name none of them."""
    import torch

    convs = [(n, m) for n, m in backbone if isinstance(m, torch.nn.Conv2d)]
    fit = [n for n, m in convs if m.groups == 1]
    grouped = [n for n, m in convs if m.groups > 1]
    for depth in range(1, max((n.count(".") + 1 for n in fit), default=0) + 1):
        suffixes = {".".join(n.split(".")[-depth:]) for n in fit}
        if not any(g == s or g.endswith("." + s) for g in grouped for s in suffixes):
            return sorted(suffixes)
    return sorted(fit)


# --- LoRA: checking targets ----------------------------------------------------------------

def check_strategy(train, model_ref) -> None:
    """Before any run dir exists: LoRA targets must name adaptable modules of the pretrained weights.

    Reads only the safetensors headers (no torch), of a model folder or of a hub model already in
    the local HF cache. A model with neither is checked when it loads instead."""
    targets = parse_targets(train.lora_targets) if train.strategy == "lora" else []
    if not targets:
        return
    shapes = weight_shapes(local_folder(model_ref.source))
    if shapes is None:
        return
    modules: dict[str, bool | None] = {name.rsplit(".", 1)[0]: None for name in shapes if "." in name}
    for name, shape in shapes.items():
        if name.endswith(".weight") and shape:  # Linear, Conv and Embedding weights have 2+ dims
            modules[name.rsplit(".", 1)[0]] = len(shape) >= 2
    _refuse_bad_targets(targets, modules, f"model {model_ref.name!r}")


def local_folder(source: str) -> Path:
    """The folder holding a model's weights: ``source`` itself, or a hub id's snapshot in the HF cache
    (found offline, without downloading); a path that does not exist when neither is there."""
    if Path(source).exists():
        return Path(source)
    from ftui.models.hub import cached_file

    for name in ("model.safetensors", "model.safetensors.index.json"):
        cached = cached_file(source, name)  # None for an id that is not valid: loading says what is wrong
        if cached is not None:
            return cached.parent
    return Path(source)


def weight_shapes(folder: Path) -> dict[str, list] | None:
    """{weight name: shape} from a model folder's safetensors header(s) ([] when a sharded index
    names the weight without its shape); None when there are none."""
    if not folder.is_dir():
        return None
    index = folder / "model.safetensors.index.json"
    try:
        if index.is_file():
            return {name: [] for name in json.loads(index.read_text())["weight_map"]}
        single = folder / "model.safetensors"
        if not single.is_file():
            return None
        header = read_safetensors_header(single, str(folder))
    except (OSError, ValueError, KeyError, ModelError):
        return None  # a broken weights file gets its own error when the model loads
    return {k: v.get("shape", []) for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)}


def _model_modules(model) -> dict[str, bool]:
    """{module name: whether LoRA can adapt it} of a loaded model."""
    import torch

    kinds = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d, torch.nn.Embedding)
    return {name: isinstance(module, kinds) for name, module in model.named_modules() if name}


def _refuse_bad_targets(targets, modules: dict[str, bool | None], model_words: str) -> None:
    """RecipeError naming every target that matches no module, or only modules LoRA cannot adapt
    (peft matches a module's full name or a dotted suffix of it). ``None`` = not known."""
    def matches(t):
        return [ok for n, ok in modules.items() if n == t or n.endswith("." + t)]

    missing = [t for t in targets if not matches(t)]
    unfit = [t for t in targets if t not in missing and not any(ok is not False for ok in matches(t))]
    some = ", ".join(dict.fromkeys(n.rsplit(".", 1)[-1] for n, ok in modules.items() if ok)) or "none"
    if missing:
        raise RecipeError(f"train.lora_targets: no module named {', '.join(missing)} in {model_words}; "
                          f"its adaptable layers include: {_first(some)}")
    if unfit:
        raise RecipeError(f"train.lora_targets: {', '.join(unfit)} in {model_words} is not a Linear, Conv or "
                          f"Embedding layer, which is what LoRA adapts; its adaptable layers include: {_first(some)}")


def _first(names: str, n: int = 12) -> str:
    parts = names.split(", ")
    return ", ".join(parts[:n]) + (", ..." if len(parts) > n else "")


def _model_words(model) -> str:
    config = getattr(model, "config", None)
    return f"the {getattr(config, 'model_type', '') or type(model).__name__} model"


# --- LoRA: checkpoints ---------------------------------------------------------------------

def is_peft(model) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "merge_and_unload")


def finish_checkpoint(peft_model, folder: Path) -> None:
    """Turns the checkpoint HF wrote for a PeftModel into one both sides can read: the adapter
    files move into ``adapter/`` (resume reads them there; at the top, transformers'
    ``from_pretrained`` would take the folder for an adapter and need peft), and the adapters
    merged into the base weights become the folder's plain ``config.json`` + ``model.safetensors``."""
    import os

    folder = Path(folder)
    adapter = folder / ADAPTER_DIR
    adapter.mkdir(exist_ok=True)
    for name in ADAPTER_FILES:
        if (folder / name).exists():
            os.replace(folder / name, adapter / name)
    save_merged(peft_model, folder)


def save_merged(peft_model, folder: Path) -> None:
    """Writes the adapters merged into the base weights as a plain HF model (config.json with the
    labels, model.safetensors) into ``folder``, from a copy: the training weights stay untouched.

    The copy costs one more model's worth of memory on the training device, for the moment of a save."""
    import copy

    import torch

    with torch.no_grad():
        merged = copy.deepcopy(peft_model).merge_and_unload()
    merged.save_pretrained(folder, safe_serialization=True)
    del merged


def load_adapter(peft_model, folder: Path) -> None:
    """Resume: the adapters (and the trained head) of a LoRA checkpoint back into the wrapped model."""
    adapter = Path(folder) / ADAPTER_DIR
    if not (adapter / ADAPTER_FILE).is_file():
        raise CheckpointError(f"{folder}: no {ADAPTER_DIR}/{ADAPTER_FILE}; a LoRA run resumes from its adapters")
    peft_model.load_adapter(str(adapter), peft_model.active_adapter, is_trainable=True)
