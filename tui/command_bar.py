"""One line above the footer: the last commands and whether the trainer acknowledged them, or
what the user should know now (the run finished, failed, or the trainer died)."""

from __future__ import annotations

import time

from rich.text import Text

from .command_tracker import TrackedCommand
from .pane import Pane

STATE_STYLES = {"pending": ("⧗", "bold yellow"), "ok": ("✔", "green"), "failed": ("✖", "bold red")}


def command_text(commands: list[TrackedCommand], now: float) -> Text:
    """Newest first: the newest in full (pending for how long, or the trainer's answer), the
    older ones as a symbol and a name, so the line stays readable at 80 columns."""
    text = Text()
    for i, c in enumerate(commands):
        symbol, style = STATE_STYLES[c.state]
        if i:
            text.append(" · " if i > 1 else "   ", style="dim")
            text.append(f"{symbol} {c.label()}", style=style)
            continue
        text.append(f"{symbol} {c.label()} ", style=style)
        if c.state == "pending":
            text.append(f"pending {now - c.t:.0f}s", style=style)
        else:
            text.append("acknowledged" if c.state == "ok" else "FAILED", style=style)
            if c.message:
                text.append(f": {c.message}", style="" if c.state == "ok" else "red")
    return text


class CommandBar(Pane):
    def show(self, commands: list[TrackedCommand], notice: Text | None = None, idle: str = "") -> None:
        """The notice (if any), then the commands newest first; ``idle`` when there is neither."""
        now = time.time()
        key = (notice.plain if notice else None, idle,
               tuple((c.id, c.state, int(now - c.t) if c.state == "pending" else 0) for c in commands))
        self.paint(key, lambda: self._build(commands, notice, idle, now))

    @staticmethod
    def _build(commands: list[TrackedCommand], notice: Text | None, idle: str, now: float) -> Text:
        text = Text()
        if notice:
            text.append_text(notice)
        if commands:
            if text:
                text.append("  │  ", style="dim")
            text.append_text(command_text(commands, now))
        if not text:
            text = Text(idle, style="dim")
        text.no_wrap, text.overflow = True, "ellipsis"
        return text
