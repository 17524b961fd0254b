"""The one error root: every user-facing failure is an ``FtuiError`` said in one line.

The command line, the detached trainer and the cockpit catch ``FtuiError`` alone, print
``ftui: <message>`` and exit with its ``exit_code``; anything else is a bug and keeps its
traceback. Standard library only, so every layer (and the torch-free bundle) can import it.
"""

from __future__ import annotations

# Exit codes of every ftui command (README, "Exit codes").
EXIT_OK = 0           # finished, or stopped on request
EXIT_FAILED = 1       # the run or export started and then failed (a gate, a full disk, a bug)
EXIT_BAD_INPUT = 2    # bad input, said in one line before any work starts
EXIT_NAN_HALTED = 3   # the run halted on a NaN/inf loss


class FtuiError(Exception):
    """A problem with the user's input or environment, said in one line (whitespace folded)."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str = ""):
        super().__init__(" ".join(str(message).split()))


class RunDirError(FtuiError):
    """A path is not an ftui run directory, or cannot be used as one."""


class CheckpointError(FtuiError):
    """A checkpoint is missing, corrupt or truncated (rundir.checkpoints' checks raise it)."""


class DataError(FtuiError):
    """A data file is missing, empty, unreadable or inconsistent (rundir.tables' readers raise it)."""


def first_line(e: BaseException, limit: int = 400) -> str:
    """An exception's first non-blank line, for a one-line error (its type name if it has none).

    Longer than ``limit``, it keeps its whole sentences (or, for one long sentence, whole words)
    and ends in an ellipsis: never cut mid-sentence when a sentence fits.
    """
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    text = lines[0] if lines else type(e).__name__
    if len(text) <= limit:
        return text
    head = text[:limit]
    end = head.rfind(". ")
    return (head[: end + 1] if end > limit // 4 else head.rsplit(" ", 1)[0]) + " …"
