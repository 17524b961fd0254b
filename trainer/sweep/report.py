"""What a headless sweep prints: a line per candidate start and end, then the leaderboard.

``TextReport`` is for people (and sweep.log); ``JsonReport`` prints one JSON object per ended
candidate, then ``{"leaderboard": [...], "winner": ...}``: a line each, for jq or a script.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from ftui.rundir.events_schema import jsonable
from ftui.rundir.sweep import Candidate, Sweep


def promote_command(folder: Path, sweep: Sweep) -> str | None:
    """How to train the winner on: resume its run with more steps (its own run dir continues)."""
    if not sweep.winner:
        return None
    winner = sweep.candidate(sweep.winner)
    more = max(2 * (winner.step or 1), 10)
    return f"ftui train --resume {folder / winner.run} --max-steps {more}"


def _params(c: Candidate) -> str:
    return " ".join(f"{k}={v}" for k, v in c.params.items())


def _size(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:.1f}MB"


class TextReport:
    def __init__(self, out):
        self.out = out

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def started(self, c: Candidate, sweep: Sweep, device: str) -> None:
        rung = f" rung {c.rung}" if sweep.halving else ""
        self.say(f"[{_index(c, sweep)}] start {c.name}{rung} on {device}: {_params(c)}")

    def finished(self, c: Candidate, sweep: Sweep) -> None:
        value = f"{sweep.metric} {c.value:.4f} at step {c.best_step}" if c.value is not None else "no metric"
        why = f" ({c.message})" if c.message else ""
        self.say(f"[{_index(c, sweep)}] {c.status} {c.name}: {value}, {c.wall_s:.0f} s{why}")

    def leaderboard(self, sweep: Sweep, ranked: list[Candidate], folder: Path) -> None:
        self.say(f"\n{'#':>2} {'CANDIDATE':<34} {'STATUS':<8} {sweep.metric.upper():>9} {'BEST@':>6} "
                 f"{'SAMPLES/S':>9} {'TRAINABLE':>10} {'CKPT':>8} {'DIAGNOSIS':<12} PARAMS")
        for i, c in enumerate(ranked, 1):
            value = f"{c.value:.4f}" if c.value is not None else "-"
            speed = f"{c.samples_per_s:.1f}" if c.samples_per_s is not None else "-"
            trainable = f"{c.params_trainable:,}" if c.params_trainable is not None else "-"
            self.say(f"{i:>2} {c.name[:34]:<34} {c.status:<8} {value:>9} {str(c.best_step or '-'):>6} {speed:>9} "
                     f"{trainable:>10} {_size(c.checkpoint_bytes):>8} {c.diagnosis or '-':<12} {_params(c)}")
        promote = promote_command(folder, sweep)
        if promote:
            self.say(f"winner: {sweep.winner} ({folder / sweep.candidate(sweep.winner).run})")
            self.say(f"promote it: {promote}")
        else:
            self.say("no winner: no candidate finished")


class JsonReport:
    def __init__(self, out):
        self.out = out

    def started(self, c: Candidate, sweep: Sweep, device: str) -> None:
        pass  # headless JSON is one line per ended candidate, then the leaderboard

    def finished(self, c: Candidate, sweep: Sweep) -> None:
        print(json.dumps(jsonable({"candidate": asdict(c), "metric": sweep.metric})), file=self.out, flush=True)

    def leaderboard(self, sweep: Sweep, ranked: list[Candidate], folder: Path) -> None:
        body = {"leaderboard": [asdict(c) for c in ranked], "metric": sweep.metric, "winner": sweep.winner,
                "folder": str(folder), "promote": promote_command(folder, sweep)}
        print(json.dumps(jsonable(body)), file=self.out, flush=True)


def _index(c: Candidate, sweep: Sweep) -> str:
    return f"{sweep.candidates.index(c) + 1}/{len(sweep.candidates)}"
