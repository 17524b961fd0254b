"""Fine-tuning strategies: which parameters train, and how.

    full     every parameter trains (the default)
    frozen   the pretrained backbone is frozen; only the new head trains
    llrd     every parameter trains, with layer-wise lr decay (the optimizer groups: ftui_trainer.py)
"""

from __future__ import annotations


def apply_strategy(model, train, task: str = "sequence-classification"):
    """Returns the model to train under ``train.strategy`` (the same object, or a wrapped one)."""
    if train.strategy == "frozen":
        for param in model.base_model.parameters():
            param.requires_grad = False
    return model
