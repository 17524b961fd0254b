"""Running a sweep: each candidate a plain run, trained by the normal trainer process.

    create_sweep(plan)       the sweep folder: sweep.json (every candidate pending), sweep-recipe.toml
    SweepRunner(folder).run()  candidates one after another on a CPU, one per visible GPU in parallel;
                             with halving, rung by rung, the survivors resumed in their own run dirs

A candidate is prepared like `ftui train` prepares a run (``prepare_run``) and trained by
``python -m ftui.trainer RUN_DIR`` (``start_detached``), the process the cockpit starts, so
`ftui watch`, `ftui export` and `ftui train --resume` work on it as on any run. The runner only
reads what each run wrote and keeps sweep.json up to date. ``python -m ftui.trainer.sweep FOLDER``
runs a created sweep (detached, with its output in sweep.log). No torch in this process.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ftui.rundir.events import EventTail, write_command
from ftui.rundir.layout import RunDir, folder_size, write_atomic
from ftui.rundir.runstate import RunState
from ftui.rundir.sweep import BASE_RECIPE, Candidate, Sweep, last_diagnosis, read_sweep, write_sweep

from ..errors import FtuiError, RecipeError
from ..recipe import read_toml
from .plan import SweepPlan, candidate_recipe, rung_sizes

POLL_S = 0.5
FAILED_STATUSES = ("failed", "nan_halted", "died", "starting", "running", "paused", "evaluating", "saving")


def create_sweep(plan: SweepPlan) -> Path:
    """Makes the sweep folder with every candidate pending; refuses one that exists."""
    import tomli_w

    folder = plan.folder
    try:
        folder.mkdir(parents=True)
    except FileExistsError:
        raise RecipeError(f"{folder}: exists; choose another --name (a sweep never reuses a folder)") from None
    except OSError as e:
        raise RecipeError(f"{folder}: cannot create the sweep folder ({e.strerror})") from None
    write_atomic(folder / BASE_RECIPE, tomli_w.dumps(plan.base))
    metric = next(iter(plan.recipes.values())).early_stopping.metric
    sweep = Sweep(metric=metric, greater_is_better=metric != "loss", budget=plan.budget, halving=plan.halving,
                  rung_steps=plan.rung_steps,
                  candidates=[Candidate(name=n, run=n, params=p) for n, p in plan.candidates])
    write_sweep(folder, sweep)
    return folder


def gpu_slots() -> list[str]:
    """One CUDA_VISIBLE_DEVICES value (a UUID) per GPU this process may use, through NVML; [] without."""
    from ..engine.hardware import GpuProbe

    return [visible.uuid for visible, _ in GpuProbe().devices]


@dataclass
class Active:
    candidate: Candidate
    process: object            # subprocess.Popen (or a test's stand-in with poll())
    slot: int
    started: float
    stop_sent: bool = False    # a minutes budget ran out: the stop command is written


class SweepRunner:
    """Trains a created sweep's candidates; ``report`` hears each start, finish and the leaderboard."""

    def __init__(self, folder, report, slots: list | None = None, launcher=None, prepare=None):
        self.folder = Path(folder)
        self.sweep = read_sweep(self.folder)
        self.base = read_toml(self.folder / BASE_RECIPE)
        self.report = report
        self.slots = slots if slots is not None else (gpu_slots() or [None])
        self.launcher = launcher or _start_trainer
        self.prepare = prepare or _prepare
        self.active: list[Active] = []

    def run(self) -> int:
        """0 when some candidate finished, else 1 (every one failed)."""
        self.sweep.status = "running"
        self.save()
        rungs = self.sweep.rung_steps or [self.sweep.budget.get("steps")]
        sizes = rung_sizes(len(self.sweep.candidates), len(rungs))
        restore = _interrupt_on_sigterm()
        try:
            for rung, steps in enumerate(rungs):
                todo = [c for c in self.sweep.candidates if c.status == "pending" or (rung and c.status == "done")]
                self.train(todo, rung, steps)
                if rung + 1 < len(rungs):
                    self.drop_worst(rung, sizes[rung + 1])
        except KeyboardInterrupt:
            self.stop_all()
            raise
        finally:
            restore()
        self.sweep.winner = next((c.name for c in self.ranked() if c.status == "done"), None)
        self.sweep.status = "done"
        self.save()
        self.report.leaderboard(self.sweep, self.ranked(), self.folder)
        return 0 if self.sweep.winner else 1

    def train(self, todo: list[Candidate], rung: int, steps: int | None) -> None:
        """Keeps every slot busy until each candidate of this rung has ended."""
        queue = list(todo)
        while queue or self.active:
            busy = {a.slot for a in self.active}
            for slot in [s for s in range(len(self.slots)) if s not in busy]:
                if queue:
                    self.start(queue.pop(0), rung, steps, slot)
            for active in list(self.active):
                self.check(active)
            if self.active:
                time.sleep(POLL_S)

    def start(self, c: Candidate, rung: int, steps: int | None, slot: int) -> None:
        run_path = self.folder / c.run
        resume = rung > 0
        try:
            if resume:
                from ..engine.session import extend_run

                extend_run(RunDir(run_path), steps)
            else:
                self.prepare(candidate_recipe(self.base, self.folder, c.name, c.params, steps))
        except FtuiError as e:  # bad data found late, a model that fails to load: this one only
            c.status, c.message = "failed", str(e)
            self.save()
            self.report.finished(c, self.sweep)
            return
        c.status, c.rung, c.message = "running", rung, ""
        self.save()
        device = self.slots[slot]
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": device} if device is not None else None
        self.report.started(c, self.sweep, device or "cpu")
        self.active.append(Active(c, self.launcher(run_path, resume, env), slot, time.monotonic()))

    def check(self, active: Active) -> None:
        """Reaps a candidate whose trainer exited; stops one whose minutes are up."""
        code = active.process.poll()
        minutes = self.sweep.budget.get("minutes")
        if code is None:
            if minutes and not active.stop_sent and time.monotonic() - active.started > minutes * 60:
                write_command(self.folder / active.candidate.run, "stop")  # checkpoint, then stop
                active.stop_sent = True
            return
        self.active.remove(active)
        c = active.candidate
        c.wall_s = round(c.wall_s + time.monotonic() - active.started, 1)
        read_result(c, self.folder / c.run, code, timed=active.stop_sent)
        self.save()
        self.report.finished(c, self.sweep)

    def drop_worst(self, rung: int, keep: int) -> None:
        """Successive halving: only the best ``keep`` of this rung's finishers go on."""
        finishers = [c for c in self.ranked() if c.status == "done" and c.rung == rung]
        for c in finishers[keep:]:
            c.status, c.message = "dropped", f"dropped after rung {rung}"
            self.report.finished(c, self.sweep)
        self.save()

    def ranked(self) -> list[Candidate]:
        """Done before dropped before the rest; by rung reached, then by metric, best first."""
        order = {"done": 0, "dropped": 1, "stopped": 2, "running": 3, "pending": 4, "failed": 5}
        sign = -1 if self.sweep.greater_is_better else 1

        def key(c: Candidate):
            value = sign * c.value if c.value is not None else math.inf
            return order.get(c.status, 6), -c.rung, value

        return sorted(self.sweep.candidates, key=key)

    def stop_all(self) -> None:
        """Ctrl-C: each running candidate checkpoints and stops; the sweep says so."""
        for active in self.active:
            write_command(self.folder / active.candidate.run, "stop")
        for active in self.active:
            code = _wait(active.process)
            read_result(active.candidate, self.folder / active.candidate.run, code, timed=False)
        self.active = []
        self.sweep.status = "stopped"
        self.save()

    def save(self) -> None:
        write_sweep(self.folder, self.sweep)


def _interrupt_on_sigterm():
    """SIGTERM (kill, Slurm) ends a sweep as Ctrl-C does: its running candidates checkpoint and stop,
    rather than training on orphaned in their own sessions."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    return lambda: signal.signal(signal.SIGTERM, previous)


def read_result(c: Candidate, run_path: Path, code: int, timed: bool) -> None:
    """A finished candidate's facts, from what its run wrote (its events and its best checkpoint)."""
    run = RunDir(run_path)
    state = RunState(name=run.name).read(EventTail(run.events))
    value = state.best_value
    c.value = value if value is not None and math.isfinite(value) else None
    c.best_step, c.step = state.best_step, state.step
    c.samples_per_s = state.samples_per_s
    c.params_trainable = state.run_start.get("params_trainable")
    best = run.best_checkpoint()
    c.checkpoint_bytes = folder_size(best) if best is not None else None
    c.diagnosis = last_diagnosis(run_path)
    if state.status == "finished" and code == 0 or state.status == "stopped" and timed:
        c.status = "done"
    elif state.status == "stopped":
        c.status, c.message = "stopped", "stopped by a command"
    else:
        c.status = "failed"
        c.message = state.status_message or _last_line(run.log) or f"the trainer exited {code}"
    if c.status == "failed" and state.status in ("finished", "stopped"):
        c.message = f"the trainer exited {code}"


def _last_line(path: Path) -> str:
    try:
        lines = [x for x in path.read_text(errors="replace").splitlines() if x.strip()]
    except OSError:
        return ""
    return lines[-1].strip()[:300] if lines else ""


def _wait(process) -> int:
    while (code := process.poll()) is None:
        time.sleep(POLL_S)
    return code


def _prepare(recipe) -> None:
    from ..engine.session import prepare_run

    prepare_run(recipe)


def _start_trainer(run_path: Path, resume: bool, env: dict | None):
    from ..engine.launch import start_detached

    return start_detached(run_path, resume=resume, env=env)


def start_sweep_detached(folder: Path):
    """Runs a created sweep as its own process (own session, output in sweep.log): the cockpit's way."""
    import subprocess

    from ftui.rundir.sweep import SWEEP_LOG

    with open(folder / SWEEP_LOG, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "ftui.trainer.sweep", str(folder)], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)


def main(argv=None) -> int:
    from .report import TextReport

    folder = Path((argv or sys.argv[1:])[0])
    try:
        return SweepRunner(folder, TextReport(sys.stdout)).run()
    except FtuiError as e:
        print(f"ftui: {e}", file=sys.stderr)
        return e.exit_code
