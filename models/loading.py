"""Loading a pretrained model with a fresh classification head sized to the task's labels."""

from __future__ import annotations

from ftui.rundir.tasks import DEFAULT_TASK, TASKS

from .config_overrides import NO_DROPOUT, config_overrides
from .errors import ModelError, first_line
from .presets import ResolvedModel


def load_tokenizer(model: ResolvedModel, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(model.source, trust_remote_code=trust_remote_code)
    except Exception as e:  # transformers raises OSError/ValueError/... for a folder that is no model
        raise ModelError(f"model {model.name!r}: cannot load its tokenizer ({first_line(e)})") from None


def load_config(model: ResolvedModel, trust_remote_code: bool = False):
    """The model's transformers config: the model_type must be one transformers knows (or ships code for)."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(model.source, trust_remote_code=trust_remote_code)
    except Exception as e:  # ValueError for an unknown model_type, OSError/KeyError for a broken config
        raise ModelError(f"model {model.name!r}: transformers cannot load its config.json ({first_line(e)})") from None


def load_for_classification(model: ResolvedModel, labels: list[str], trust_remote_code: bool = False,
                            head: str = TASKS[DEFAULT_TASK].head, dropout: float = NO_DROPOUT,
                            config_keys: dict | None = None):
    """A model with a classification ``head`` (an AutoModelFor... name: sequence, token or image
    classification) initialised from the pretrained weights.

    The head is new (sized to ``labels``); ``id2label``/``label2id`` travel in its config so
    every checkpoint and export knows the label names. ``dropout`` and ``config_keys`` (the recipe's
    model.dropout and [model_config]) are set on the config first (models/config_overrides.py).
    """
    import transformers
    from transformers import AutoConfig
    from transformers.utils import logging as hf_logging

    id2label = dict(enumerate(labels))
    try:
        config = AutoConfig.from_pretrained(
            model.source, num_labels=len(labels), id2label=id2label,
            label2id={v: k for k, v in id2label.items()}, trust_remote_code=trust_remote_code,
        )
        for key, value in config_overrides(config.to_dict(), dropout, config_keys or {}, model.name).items():
            setattr(config, key, value)
        # "Some weights were newly initialized" is expected for a new head: say it ourselves once.
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        try:
            return getattr(transformers, head).from_pretrained(
                model.source, config=config, trust_remote_code=trust_remote_code,
                ignore_mismatched_sizes=True, use_safetensors=True,  # never a pickle: it can run code
            )
        finally:
            hf_logging.set_verbosity(verbosity)
    except ModelError:
        raise
    except Exception as e:
        task = head.removeprefix("AutoModelFor").replace("Classification", " classification").lower()
        raise ModelError(f"model {model.name!r}: cannot load for {task} ({first_line(e)})") from None


def count_parameters(model) -> tuple[int, int]:
    """(total, trainable) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


# PyTorch's BatchNorm default, and what torchvision trained MobileNetV2's ImageNet weights with.
BATCHNORM_MOMENTUM = 0.1


def fix_batchnorm_momentum(model) -> int:
    """Sets BatchNorm momentum written in TensorFlow's convention (a decay near 1: transformers'
    MobileNetV2 uses 0.997, EfficientNet 0.99) to PyTorch's 0.1; returns how many layers changed.

    PyTorch weighs the *new* batch by ``momentum``, so 0.997 makes the running statistics nearly the
    last batch's: one training batch of digits erases the ImageNet statistics the weights need."""
    import torch

    changed = 0
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and (module.momentum or 0) > 0.5:
            module.momentum = BATCHNORM_MOMENTUM
            changed += 1
    return changed
