"""The log pane: the tail of the trainer's log events, warnings and errors highlighted; when the
trainer has died, what it last wrote to trainer.log instead."""

from __future__ import annotations

import time

from rich.console import Console
from rich.text import Text

from .pane import Pane

LEVEL_STYLES = {"warning": "bold yellow", "error": "bold red", "info": ""}


def log_lines(logs: list[dict], rows: int, width: int) -> Text:
    """The newest ``rows`` events, one line each (cut with "…"), so the newest stay in view."""
    lines = []
    for event in logs[-max(rows, 1):]:
        level = event.get("level", "info")
        line = Text(time.strftime("%H:%M:%S ", time.localtime(event.get("t", 0))), style="dim")
        if level != "info":
            line.append(f"{level.upper()} ", style=LEVEL_STYLES.get(level, "bold"))
        line.append(str(event.get("message", "")), style=LEVEL_STYLES.get(level, ""))
        line.truncate(width, overflow="ellipsis")
        lines.append(line)
    return Text("\n").join(lines) if lines else Text("no messages yet", style="dim")


def tail_notice(headline: str, tail: list[str], rows: int, width: int, alarm: bool = True) -> Text:
    """A headline (red when something is wrong) over as many of the last lines of trainer.log
    as fit, wrapped: the last line of a traceback is the one that matters, so it is never cut."""
    text = Text(headline + "\n", style="bold red" if alarm else "bold")
    if not tail:
        return text.append("trainer.log is empty or missing", style="dim")
    budget = rows - _wrapped_rows(headline, width) - 1
    shown: list[str] = []
    for line in reversed(tail):
        budget -= _wrapped_rows(line, width)
        if budget < 0 and shown:
            break
        shown.insert(0, line)
    text.append("last lines of trainer.log:\n", style="dim")
    return text.append("\n".join(shown))


def _wrapped_rows(line: str, width: int) -> int:
    """Rows a line takes once word-wrapped to ``width`` (as the pane will wrap it)."""
    width = max(width, 1)
    return max(1, len(Text(line).wrap(Console(width=width), width)))


class LogPane(Pane):
    def show(self, logs: list[dict]) -> None:
        key = ("log", len(logs), (logs[-1].get("t"), logs[-1].get("message")) if logs else None)
        self.paint(key, lambda: log_lines(logs, self.size.height or 5, self.size.width or 60))

    def show_tail(self, headline: str, tail: list[str], alarm: bool = True) -> None:
        self.paint(("tail", headline, tuple(tail)),
                   lambda: tail_notice(headline, tail, self.size.height or 5, self.size.width or 60, alarm))

    def show_note(self, note: str) -> None:
        self.paint(("note", note), lambda: Text(note, style="dim"))
