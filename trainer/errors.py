"""The trainer's user-facing errors: one line, exit code 2 (1 for a run that failed), never a traceback."""

# DataError and CheckpointError are rundir's: the data readers (rundir.tables) and checkpoint checks
# (rundir.checkpoints) are shared with export, and `except DataError` here must catch what they raise.
from ftui.rundir.errors import EXIT_FAILED, CheckpointError, DataError, FtuiError, RunDirError

__all__ = ["FtuiError", "RecipeError", "DataError", "CheckpointError", "RunDirError", "TrainingFailed"]


class RecipeError(FtuiError):
    """The recipe has an unknown key, a wrong type or a bad value."""


class TrainingFailed(FtuiError):
    """The run started and then failed (disk full, out of memory, a bug): exit code 1."""

    exit_code = EXIT_FAILED
