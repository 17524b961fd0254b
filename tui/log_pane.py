"""The log pane: the tail of the trainer's log events, warnings and errors highlighted; when the
trainer has died, what it last wrote to trainer.log instead."""

from __future__ import annotations

import time

from rich.text import Text
from .pane import Pane

LEVEL_STYLES = {"warning": "bold yellow", "error": "bold red", "info": ""}


def log_lines(logs: list[dict], rows: int) -> Text:
    text = Text()
    for event in logs[-max(rows, 1):]:
        level = event.get("level", "info")
        stamp = time.strftime("%H:%M:%S", time.localtime(event.get("t", 0)))
        if text:
            text.append("\n")
        text.append(f"{stamp} ", style="dim")
        if level != "info":
            text.append(f"{level.upper()} ", style=LEVEL_STYLES.get(level, "bold"))
        text.append(str(event.get("message", "")), style=LEVEL_STYLES.get(level, ""))
    if not text:
        return Text("no messages yet", style="dim")
    text.no_wrap, text.overflow = True, "ellipsis"  # one line an event, so the newest stay in view
    return text


def tail_notice(headline: str, tail: list[str], rows: int, alarm: bool = True) -> Text:
    """A headline (red when something is wrong) over the last lines of trainer.log."""
    text = Text(headline + "\n", style="bold red" if alarm else "bold")
    if tail:
        text.append("last lines of trainer.log:\n", style="dim")
        text.append("\n".join(tail[-max(rows - 2, 1):]))
    else:
        text.append("trainer.log is empty or missing", style="dim")
    text.no_wrap, text.overflow = True, "ellipsis"
    return text


class LogPane(Pane):
    def show(self, logs: list[dict]) -> None:
        key = ("log", len(logs), (logs[-1].get("t"), logs[-1].get("message")) if logs else None)
        self.paint(key, lambda: log_lines(logs, self.size.height or 5))

    def show_tail(self, headline: str, tail: list[str], alarm: bool = True) -> None:
        self.paint(("tail", headline, tuple(tail)), lambda: tail_notice(headline, tail, self.size.height or 5, alarm))

    def show_note(self, note: str) -> None:
        self.paint(("note", note), lambda: Text(note, style="dim"))
