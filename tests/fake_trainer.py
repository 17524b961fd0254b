"""A scripted stand-in for ftui's trainer: writes a run directory by the contract, no torch.

As a class, tests drive it step by step (``FakeTrainer(run).start(); .steps(10); .evaluate()``)
or write a whole history at once (``write_history``). As a process
(``python tests/fake_trainer.py RUN --steps 200 --step-time 0.05``) it trains on a clock,
emits a hardware heartbeat every second, writes trainer.pid, and reads commands.jsonl and
acknowledges pause/resume/save/stop/set_lr the way the real callback does, so the cockpit,
the tmux tests and the benchmark can run against it without a model.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import socket
import sys
import time
from pathlib import Path

from ftui.rundir.events import EventLog, EventTail
from ftui.rundir.events_schema import parse_command

GPU_TEMPLATE = {"name": "NVIDIA A100-SXM4-80GB", "mem_total": 80 * 2**30}


class FakeTrainer:
    def __init__(self, run_dir, total_steps: int = 200, epochs: int = 2, gpus: int = 0,
                 metric: str = "accuracy", seed: int = 0, name: str | None = None):
        self.run = Path(run_dir)
        (self.run / "checkpoints").mkdir(parents=True, exist_ok=True)
        self.log = EventLog(self.run / "events.jsonl")
        self.total_steps, self.epochs, self.gpus, self.metric = total_steps, epochs, gpus, metric
        self.name = name or self.run.name
        self.rng = random.Random(seed)
        self.step_no = 0
        self.lr = 5e-5
        self.best: float | None = None
        self.current_status = "starting"

    # --- one event each ---------------------------------------------------------------------

    def claim_process(self, pid: int | None = None) -> "FakeTrainer":
        """Writes trainer.pid naming ``pid`` (this process by default) as the live trainer."""
        info = {"pid": pid or os.getpid(), "host": socket.gethostname()}
        (self.run / "trainer.pid").write_text(json.dumps(info))
        return self

    def start(self) -> "FakeTrainer":
        (self.run / "recipe.toml").write_text('[model]\nname = "fake"\n[train]\nepochs = %d\n' % self.epochs)
        self.status("starting", "loading the fake model")
        self.log.emit("run_start", 0, run=self.name, model="fake/bert-tiny", task="sequence-classification",
                      labels=["neg", "pos"], metric=self.metric, train_rows=1000, validation_rows=200,
                      total_steps=self.total_steps, epochs=self.epochs, batch_size=16,
                      params_total=4_400_000, params_trainable=4_400_000, strategy="full",
                      precision="fp32", device="cuda:0" if self.gpus else "cpu", resumed_from=None)
        self.status("running")
        return self

    def loss_at(self, step: int) -> float:
        return 0.7 * math.exp(-step / (self.total_steps / 3)) + 0.08 + self.rng.random() * 0.08

    def steps(self, n: int = 1, loss: float | None = None) -> "FakeTrainer":
        for _ in range(n):
            self.step_no += 1
            s = self.step_no
            self.log.emit("step", s, epoch=round(s / self.total_steps * self.epochs, 4),
                          loss=self.loss_at(s) if loss is None else loss, lr=self.lr,
                          grad_norm=1.0 + self.rng.random(), samples_per_s=48.0, tokens_per_s=3072.0,
                          eta_s=(self.total_steps - s) * 0.1, elapsed_s=s * 0.1, total_steps=self.total_steps)
        return self

    def evaluate(self) -> float:
        s = self.step_no
        value = 0.5 + 0.45 * (1 - math.exp(-s / (self.total_steps / 3)))
        self.status("evaluating")
        self.log.emit("eval", s, epoch=round(s / self.total_steps * self.epochs, 4), duration_s=0.4,
                      metrics={"loss": self.loss_at(s) + 0.05, "accuracy": value, "f1_macro": value - 0.02})
        self.status("running")
        return value

    def checkpoint(self, reason: str = "steps", value: float | None = None) -> dict:
        s = self.step_no
        name = f"checkpoint-{s}"
        folder = self.run / "checkpoints" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": s}))
        (folder / "model.safetensors").write_bytes(b"\0" * 1024)
        best = value is not None and (self.best is None or value > self.best)
        if best:
            self.best = value
            (self.run / "checkpoints" / "best.json").write_text(json.dumps(
                {"checkpoint": name, "metric": self.metric, "value": value, "step": s}))
        return self.log.emit("checkpoint", s, path=f"checkpoints/{name}", reason=reason, metric=self.metric,
                             value=value, size_bytes=17_600_000, best=best)

    def hardware(self) -> None:
        gpus = [dict(GPU_TEMPLATE, index=i, physical_index=i, util=60 + self.rng.random() * 40, mem_used=31 * 2**30,
                     proc_mem=28 * 2**30, temp=70.0, power=250.0) for i in range(self.gpus)]
        note = None if self.gpus else "no GPU: NVML not available"
        self.log.emit("hardware", self.step_no, host=socket.gethostname(), cpu_percent=50 + self.rng.random() * 50,
                      ram_used=5 * 2**30, ram_total=8 * 2**30, rss=1_300_000_000, gpus=gpus, gpu_note=note)

    def status(self, status: str, message: str = "") -> None:
        self.current_status = status
        self.log.emit("status", self.step_no, status=status, message=message)

    def say(self, message: str, level: str = "info") -> None:
        self.log.emit("log", self.step_no, level=level, message=message)

    def ack(self, command: dict, ok: bool = True, message: str = "") -> None:
        self.log.emit("ack", self.step_no, id=command["id"], cmd=command["cmd"], ok=ok, message=message)

    def finish(self, status: str = "finished", message: str = "") -> None:
        self.status(status, message)
        best = json.loads((self.run / "checkpoints" / "best.json").read_text()) if self.best is not None else {}
        self.log.emit("summary", self.step_no, status=status, best_checkpoint=best.get("checkpoint"),
                      metric=self.metric, best_value=self.best, final_step=self.step_no,
                      train_runtime_s=self.step_no * 0.1, metrics={})

    # --- whole histories --------------------------------------------------------------------

    def write_history(self, steps: int, eval_every: int = 50, hardware_every: int = 10) -> "FakeTrainer":
        """``steps`` logged steps with evals, best-tracking checkpoints and heartbeats between."""
        for _ in range(steps):
            self.steps(1)
            if self.step_no % hardware_every == 0:
                self.hardware()
            if self.step_no % eval_every == 0:
                self.checkpoint("steps", self.evaluate())
        return self

    def write_bulk_steps(self, n: int) -> "FakeTrainer":
        """``n`` step events in one write: a long run's history in well under a second."""
        lines = []
        t0 = time.time() - n * 0.1
        for _ in range(n):
            self.step_no += 1
            s = self.step_no
            lines.append(json.dumps({"v": 1, "type": "step", "t": round(t0 + s * 0.1, 3), "step": s,
                                     "epoch": s / self.total_steps * self.epochs, "loss": self.loss_at(s),
                                     "lr": self.lr, "total_steps": self.total_steps}))
        with open(self.run / "events.jsonl", "a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        return self

    # --- commands, as the real callback handles them ----------------------------------------

    def handle(self, command: dict) -> str | None:
        """Acts on one command; returns "stop" when the run must end."""
        cmd = command.get("cmd")
        if cmd == "pause":
            self.status("paused", "paused by command")
            self.ack(command, True, f"paused at step {self.step_no}")
        elif cmd == "resume":
            self.status("running")
            self.ack(command, True, f"resumed at step {self.step_no}")
        elif cmd == "save":
            before = self.current_status
            self.status("saving")
            ck = self.checkpoint("command")
            self.status(before)
            self.ack(command, True, f"saved {ck['path']}")
        elif cmd == "set_lr":
            old = self.lr
            self.lr = old * command["value"] if command.get("mode") == "scale" else command["value"]
            self.ack(command, True, f"lr {old:.3g} -> {self.lr:.3g}")
        elif cmd == "stop":
            ck = self.checkpoint("stop")
            self.ack(command, True, f"stopping after {ck['path']}")
            return "stop"
        else:
            self.ack(command, False, f"unknown command {cmd!r}")
        return None


def serve(args) -> int:
    """Trains on a clock, polling commands at every step (and while paused)."""
    fake = FakeTrainer(args.run_dir, total_steps=args.steps, gpus=args.gpus, seed=args.seed).claim_process()
    commands = EventTail(fake.run / "commands.jsonl", parse=parse_command)  # only commands it can act on
    commands.offset = _size(fake.run / "commands.jsonl")  # like the real trainer: only new commands
    fake.start()
    paused, next_beat = False, 0.0
    while fake.step_no < args.steps:
        if time.monotonic() >= next_beat:
            fake.hardware()
            next_beat = time.monotonic() + 1.0
        for command in commands.read_new():
            if fake.handle(command) == "stop":
                fake.finish("stopped", "stopped by command")
                return 0
            if command.get("cmd") in ("pause", "resume"):
                paused = command["cmd"] == "pause"
        if paused:
            time.sleep(0.05)
            continue
        if args.die_at and fake.step_no >= args.die_at:
            print(f"fake trainer: dying abruptly at step {fake.step_no}", flush=True)
            os._exit(9)
        if args.nan_at and fake.step_no + 1 >= args.nan_at:  # the NaN step is step nan_at
            fake.steps(1, loss=float("nan"))
            fake.say("loss is NaN at step %d; halting" % fake.step_no, "error")
            fake.finish("nan_halted", f"loss became NaN at step {fake.step_no}")
            return 3
        fake.steps(1)
        if fake.step_no % args.eval_every == 0:
            fake.checkpoint("steps", fake.evaluate())
        if fake.step_no % 25 == 0:
            fake.say(f"step {fake.step_no}: all fine")
        time.sleep(args.step_time)
    fake.checkpoint("final", fake.evaluate())
    fake.finish()
    return 0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--step-time", type=float, default=0.05)
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--gpus", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--die-at", type=int, default=0, help="exit abruptly (no final status) at this step")
    p.add_argument("--nan-at", type=int, default=0, help="log a NaN loss and halt at this step")
    return serve(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
