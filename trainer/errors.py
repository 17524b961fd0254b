"""The trainer's user-facing errors: one line, exit code 2 (1 for a run that failed), never a traceback."""

from ftui.rundir.errors import EXIT_FAILED, FtuiError, RunDirError

__all__ = ["FtuiError", "RecipeError", "DataError", "CheckpointError", "RunDirError", "TrainingFailed"]


class RecipeError(FtuiError):
    """The recipe has an unknown key, a wrong type or a bad value."""


class DataError(FtuiError):
    """A data file is missing, empty, unreadable or inconsistent."""


class CheckpointError(FtuiError):
    """A checkpoint is missing, corrupt or truncated."""


class TrainingFailed(FtuiError):
    """The run started and then failed (disk full, out of memory, a bug): exit code 1."""

    exit_code = EXIT_FAILED
