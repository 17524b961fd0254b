"""The hardware pane: the run's GPUs (as CUDA numbers them, with NVML's number and name), each with
utilization and a short history, the device's memory beside the run's own, temperature and power;
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


NA = "n/a"  # a GPU value NVML did not give (a MIG device's temperature, say): shown, never a crash


def _gpu_gb(n) -> str:
    return NA if n is None else f"{n / 2**30:.1f}G"


def _memory(used, total) -> str:
    if used is None or total is None:
        return f"{_gpu_gb(used)}/{_gpu_gb(total)}"
    return f"{used / 2**30:.1f}/{total / 2**30:.1f}G"


def gpu_lines(gpu: dict, util_history: list, width: int) -> Text:
    """One of the run's GPUs: CUDA's number (NVML's too, where it differs), utilization and its
    sparkline; then the device's memory, the run's own, temperature, power and name, wrapped to fit."""
    util, temp, power = gpu.get("util"), gpu.get("temp"), gpu.get("power")
    index, physical = gpu.get("index", 0), gpu.get("physical_index")
    label = f"GPU{index}" + (f" phys {physical}" if physical is not None and physical != index else "")
    text = Text()
    text.append(label + " ", style="bold")
    text.append(f"{NA if util is None else fmt.percent(util):>4} ", style="bold")
    text.append(sparkline(util_history[-max(4, width - len(label) - 6):]) + "\n", style="green")
    words = [_memory(gpu.get("mem_used"), gpu.get("mem_total")), f"run {_gpu_gb(gpu.get('proc_mem'))}",
             NA if temp is None else f"{temp:.0f}°C", NA if power is None else f"{power:.0f}W"]
    lines = _wrap(words, width)
    room = width - len(lines[-1]) - 1  # the name takes what room the last line has left, cut to it
    name = str(gpu.get("name") or "")[: max(room, 0)]
    for line in lines[:-1]:
        text.append(line + "\n")
    text.append(lines[-1])
    text.append((" " + name if len(name) >= 4 else "") + "\n", style="dim")
    return text


def _wrap(words: list[str], width: int, indent: str = "  ") -> list[str]:
    """Words in indented lines of at most ``width`` characters, where a word fits on a line at all."""
    lines, line = [], indent
    for word in words:
        if line != indent and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = indent
        line += ("" if line == indent else " ") + word
    return lines + [line]


def hardware_text(history: HardwareHistory, width: int = 30) -> Text:
    hw = history.latest
    if hw is None:
        return Text("waiting for the first hardware sample…", style="dim")
    spark_w = max(4, min(HISTORY, width - 12))
    text = Text()
    gpus = hw.get("gpus") or []
    for gpu in gpus:
        util = list(history.gpu_util.get(gpu.get("index", 0), []))[-spark_w:]
        text.append_text(gpu_lines(gpu, util, width))
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
