"""The hardware pane: per-GPU utilization, memory, temperature and power with a short history;
with no GPU, the trainer's "no GPU" note and CPU %, RAM and the trainer's RSS instead."""

from __future__ import annotations

from collections import deque

from rich.text import Text

from . import fmt
from .pane import Pane

HISTORY = 60  # samples kept per sparkline (about a minute: the trainer samples about once a second)
BARS = "▁▂▃▄▅▆▇█"


def sparkline(values, lo: float = 0.0, hi: float = 100.0) -> str:
    """Values as block characters scaled to [lo, hi]; a missing value is a space."""
    out = []
    for v in values:
        if v is None:
            out.append(" ")
            continue
        frac = (min(max(float(v), lo), hi) - lo) / ((hi - lo) or 1.0)
        out.append(BARS[min(int(frac * len(BARS)), len(BARS) - 1)])
    return "".join(out)


class HardwareHistory:
    """Recent utilization per GPU index, and CPU % for machines without one."""

    def __init__(self) -> None:
        self.gpu_util: dict[int, deque] = {}
        self.cpu: deque = deque(maxlen=HISTORY)
        self.latest: dict | None = None
        self.samples = 0

    def add(self, event: dict) -> None:
        self.latest = event
        self.samples += 1
        self.cpu.append(event.get("cpu_percent"))
        for gpu in event.get("gpus") or []:
            self.gpu_util.setdefault(gpu.get("index", 0), deque(maxlen=HISTORY)).append(gpu.get("util"))


def _gb(n) -> str:
    return fmt.DASH if n is None else f"{n / 2**30:.1f}"


def hardware_text(history: HardwareHistory, width: int = 30) -> Text:
    hw = history.latest
    if hw is None:
        return Text("waiting for the first hardware sample…", style="dim")
    spark_w = max(4, min(HISTORY, width - 12))
    text = Text()
    gpus = hw.get("gpus") or []
    for gpu in gpus:
        idx = gpu.get("index", 0)
        name = str(gpu.get("name", ""))[: max(0, width - 16)]
        util = list(history.gpu_util.get(idx, []))[-spark_w:]
        text.append(f"GPU{idx} ", style="bold")
        text.append(f"{fmt.percent(gpu.get('util')):>4} ", style="bold")
        text.append(sparkline(util) + "\n", style="green")
        text.append(f"  {_gb(gpu.get('mem_used'))}/{_gb(gpu.get('mem_total'))}G", style="")
        temp = gpu.get("temp")
        power = gpu.get("power")
        text.append(f"  {'' if temp is None else f'{temp:.0f}°C'}  {'' if power is None else f'{power:.0f}W'}")
        text.append(f"  {name}\n", style="dim")
    if not gpus:  # one line, cut to the pane: the note can be long (it names the NVML error)
        note = hw.get("gpu_note") or "no GPU"
        if len(note) > width:
            note = note[: max(width - 1, 1)] + "…"
        text.append(note + "\n", style="yellow")
    text.append("CPU  ", style="bold")
    text.append(f"{fmt.percent(hw.get('cpu_percent')):>4} ")
    text.append(sparkline(list(history.cpu)[-spark_w:]) + "\n", style="cyan")
    text.append("RAM  ", style="bold")
    text.append(f"{_gb(hw.get('ram_used'))}/{_gb(hw.get('ram_total'))}G  ")
    text.append("RSS ", style="bold")
    text.append(fmt.size(hw.get("rss")))
    return text


class NodeHistories:
    """One ``HardwareHistory`` per node of a multi-node run (events tagged ``node``); one in all
    for a single-node run."""

    def __init__(self) -> None:
        self.by_node: dict[int, HardwareHistory] = {}
        self.samples = 0

    def add(self, event: dict) -> None:
        self.samples += 1
        self.by_node.setdefault(int(event.get("node", 0)), HardwareHistory()).add(event)

    @property
    def latest(self) -> dict | None:
        first = self.by_node.get(min(self.by_node)) if self.by_node else None
        return first.latest if first else None


def nodes_text(histories: NodeHistories, width: int = 30) -> Text:
    if len(histories.by_node) <= 1:
        return hardware_text(next(iter(histories.by_node.values()), HardwareHistory()), width)
    text = Text()
    for node in sorted(histories.by_node):
        history = histories.by_node[node]
        host = (history.latest or {}).get("host", "?")
        text.append(f"node {node} · {host}\n", style="bold reverse")
        text.append_text(hardware_text(history, width))
        text.append("\n")
    return text


class HardwarePane(Pane):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.history = NodeHistories()

    def show(self) -> None:
        self.paint(self.history.samples, lambda: nodes_text(self.history, self.size.width or 30))
