"""The ftui callback, by concern: events out, steering (commands, NaN guard), best checkpoint and
early stopping; ``FtuiCallback`` is the one class a Trainer adds."""

from .best import CHECKPOINT_STATE
from .ftui_callback import FtuiCallback

__all__ = ["CHECKPOINT_STATE", "FtuiCallback"]
