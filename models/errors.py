"""Errors models/ raises: one line, exit code 2 (the CLI prints them without a traceback)."""


class ModelError(Exception):
    """A model cannot be found, or the folder is not a model."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
