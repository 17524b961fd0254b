"""Errors that `ftui export` and `ftui predict` report as one line (the CLI prints `ftui: <msg>`)."""

from __future__ import annotations

from ftui.rundir.errors import FtuiError


class ExportError(FtuiError):
    """A user-facing export or predict failure: bad input, an unusable checkpoint, an unwritable output."""
