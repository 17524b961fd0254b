"""`ftui plot RUN [RUN ...] -o curves.png|svg`: a run's curves for a write-up or a PR comment.

Loss (train and eval), the eval metric and the learning rate against step, one subplot each,
each run in its own colour and named in the legend. Events come through the torch-free readers;
matplotlib is imported only here and draws on the Agg canvas, so no display is needed.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from ftui.rundir.errors import FtuiError
from ftui.rundir.events import EventTail
from ftui.rundir.layout import open_run
from ftui.rundir.runstate import RunState

FORMATS = (".png", ".svg")


@dataclass
class Curves(RunState):
    """A run's state plus its whole learning-rate history (RunState keeps only the latest rate)."""

    lrs: list = field(default_factory=list)  # [(step, lr)]

    def _on_run_start(self, e: dict) -> None:
        super()._on_run_start(e)
        if e.get("resumed_from"):  # as for the losses: steps after the checkpoint are redone
            self.lrs = [p for p in self.lrs if p[0] <= self.step]

    def _on_step(self, e: dict) -> None:
        super()._on_step(e)
        if e.get("lr") is not None:
            self.lrs.append((e["step"], e["lr"]))

    def metric_points(self, name: str) -> list:
        return [(step, m[name]) for step, m in self.evals if m.get(name) is not None]


def run(args) -> int:
    output = output_path(args.output)  # a wrong suffix before any run is read
    curves = [read_curves(path) for path in args.runs]
    labels = run_labels(args.runs, curves)
    draw(curves, labels, output)
    print(f"wrote {output} ({len(curves)} run{'s' if len(curves) != 1 else ''})")
    for c, label in zip(curves, labels):
        if c.skipped_events:
            print(f"{label}: {c.skipped_events} unreadable line(s) of events.jsonl skipped")
    return 0


def output_path(text: str) -> Path:
    """The figure's path: a .png or .svg file in a folder that exists."""
    path = Path(text)
    if path.suffix.lower() not in FORMATS:
        raise FtuiError(f"-o {text}: unknown figure format {path.suffix or '(no suffix)'}; use .png or .svg")
    if path.is_dir():
        raise FtuiError(f"-o {text}: is a folder; name a .png or .svg file")
    if not path.parent.is_dir():
        raise FtuiError(f"-o {text}: no such folder {path.parent}")
    return path


def read_curves(path: str) -> Curves:
    """A run's curves from its events.jsonl; a one-line error when it is no run or has nothing to draw."""
    run = open_run(path)
    curves = Curves(name=run.name).read(EventTail(run.events))
    if not (curves.train_loss or curves.evals or curves.lrs):
        raise FtuiError(f"{path}: nothing to plot yet: no step or eval events in {run.events.name}")
    return curves


def run_labels(paths: list[str], curves: list[Curves]) -> list[str]:
    """Each run's name for the legend; the path as given where two runs share a name."""
    names = [c.name or Path(p).name for p, c in zip(paths, curves)]
    return [name if names.count(name) == 1 else str(p) for p, name in zip(paths, names)]


def draw(curves: list[Curves], labels: list[str], output: Path) -> None:
    """Loss, eval metric and learning rate in one figure, written to ``output`` (PNG or SVG)."""
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
    except ImportError:
        raise FtuiError("ftui plot needs matplotlib: pip install matplotlib") from None
    # svg.fonttype "none": the SVG keeps its words as text (searchable, and small in a PR comment)
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "ftui"}):
        fig = Figure(figsize=(13, 4.2), layout="constrained")
        FigureCanvasAgg(fig)
        loss_ax, metric_ax, lr_ax = fig.subplots(1, 3)
        metric = _shared_metric(curves)
        for i, c in enumerate(curves):
            colour = f"C{i % 10}"
            _line(loss_ax, c.train_loss, colour, "-")
            _line(loss_ax, c.metric_points("loss"), colour, "--", marker="o")
            _line(metric_ax, c.metric_points(c.metric_name), colour, "-", marker="o")
            _line(lr_ax, c.lrs, colour, "-")
        _axes(loss_ax, "loss", "no losses logged")
        loss_ax.legend([Line2D([], [], color="0.3", ls=ls) for ls in ("-", "--")], ["train", "eval"], fontsize=8)
        _axes(metric_ax, f"eval {metric}", "no evaluations yet")
        _axes(lr_ax, "learning rate", "no learning rate logged")
        lr_ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        handles = [Line2D([], [], color=f"C{i % 10}") for i in range(len(curves))]
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4), fontsize=9)
        _save(fig, output)


def _shared_metric(curves: list[Curves]) -> str:
    names = {c.metric_name for c in curves}
    return names.pop() if len(names) == 1 else "metric"


def _line(ax, points: list, colour: str, style: str, marker: str | None = None) -> None:
    """One run's series, without its non-finite values (a nan loss leaves a gap, not a broken axis)."""
    points = [(s, v) for s, v in points if math.isfinite(v)]
    if points:
        steps, values = zip(*points)
        ax.plot(steps, values, color=colour, ls=style, lw=1.4, ms=3.5,
                marker=marker if marker or len(points) == 1 else None)


def _axes(ax, title: str, empty: str) -> None:
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("step")
    ax.grid(True, alpha=0.3)
    if not ax.lines:
        ax.text(0.5, 0.5, empty, transform=ax.transAxes, ha="center", va="center", color="0.5")


def _save(fig, output: Path) -> None:
    """Writes the figure whole or not at all: a failed write leaves no half file under ``output``."""
    partial = output.with_name(f".{output.name}.partial")
    try:
        fig.savefig(partial, format=output.suffix[1:].lower(), dpi=150)
        os.replace(partial, output)
    except OSError as e:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise FtuiError(f"{output}: cannot write ({e.strerror or e})") from None
