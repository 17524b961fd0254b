"""The trainer: the recipe, the engine (HF Trainer set-up and loop), the tasks and their data.

``from ftui.trainer import FtuiCallback`` is the path for anyone's own HF Trainer script. It is
imported on first use, so ``import ftui.trainer`` (the recipe, ``ftui --help``) stays torch-free.
"""

__all__ = ["FtuiCallback"]


def __getattr__(name: str):
    if name == "FtuiCallback":
        from .engine.callback import FtuiCallback

        return FtuiCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
