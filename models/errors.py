"""Errors models/ raises: one line, exit code 2 (the CLI prints them without a traceback)."""

from ftui.rundir.errors import FtuiError, first_line

__all__ = ["ModelError", "first_line"]


class ModelError(FtuiError):
    """A model cannot be found, or the folder is not a model."""
