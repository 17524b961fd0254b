"""User-facing errors: one line, exit code 2, never a traceback."""


class FtuiError(Exception):
    """A problem with the user's input or environment, said in one line.

    The command line prints ``ftui: <message>`` and exits with ``exit_code``.
    """

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class RecipeError(FtuiError):
    """The recipe has an unknown key, a wrong type or a bad value."""


class DataError(FtuiError):
    """A data file is missing, empty, unreadable or inconsistent."""


class CheckpointError(FtuiError):
    """A checkpoint is missing, corrupt or truncated."""


class RunDirError(FtuiError):
    """A path is not an ftui run directory, or cannot be used as one."""


class TrainingFailed(FtuiError):
    """The run started and then failed (disk full, out of memory, a bug): exit code 1."""

    exit_code = 1
