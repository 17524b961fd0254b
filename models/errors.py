"""Errors models/ raises: one line, exit code 2 (the CLI prints them without a traceback)."""


class ModelError(Exception):
    """A model cannot be found, or the folder is not a model."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


def first_line(e: Exception, limit: int = 200) -> str:
    """An exception's first line, cut to ``limit`` characters, for a one-line error (its type if empty)."""
    text = str(e).strip().splitlines()
    return text[0][:limit] if text else type(e).__name__
