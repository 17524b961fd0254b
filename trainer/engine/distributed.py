"""Multi-process runs: ftui hands the job to torchrun (DDP under the HF Trainer) and supervises it.

    ftui train recipe.toml --nproc 4                              one node, 4 processes
    ftui train recipe.toml --nnodes 2 --node-rank 0 --master-addr host0 --nproc 8 --name run1

The run directory stays the contract: only global rank 0 writes events. The supervisor (the
process that started torchrun) writes a "failed" status if the workers die without one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ftui.rundir.layout import RunDir

from ..errors import FtuiError


@dataclass(frozen=True)
class Launch:
    nproc: int = 1
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 29500

    @property
    def distributed(self) -> bool:
        return self.nproc * self.nnodes > 1

    def check(self) -> None:
        if self.nproc < 1 or self.nnodes < 1:
            raise FtuiError("--nproc and --nnodes must be at least 1")
        if not 0 <= self.node_rank < self.nnodes:
            raise FtuiError(f"--node-rank must be in 0..{self.nnodes - 1}")

    def argv(self) -> list[str]:
        """How the detached trainer process (``python -m ftui.trainer``) is told the launch."""
        return ["--launch", json.dumps(dataclasses.asdict(self))]

    @classmethod
    def from_json(cls, text: str) -> "Launch":
        return cls(**json.loads(text))


def global_rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def torchrun_argv(run_path: Path, resume: bool, launch: Launch) -> list[str]:
    rendezvous = (["--standalone"] if launch.nnodes == 1 else
                  [f"--nnodes={launch.nnodes}", f"--node_rank={launch.node_rank}",
                   f"--master_addr={launch.master_addr}", f"--master_port={launch.master_port}"])
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={launch.nproc}", *rendezvous,
            "--max_restarts=0", "-m", "ftui.trainer", str(run_path), "--worker"] + (["--resume"] if resume else [])


def supervise(run_path: Path, resume: bool, launch: Launch) -> int:
    """Runs the workers through torchrun and waits. If they die without a final status (a rank was
    killed, torchrun tore the group down), says so in the event log: the cockpit never waits on a
    run that is gone."""
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    proc = subprocess.Popen(torchrun_argv(run_path, resume, launch), env=env)
    try:
        code = proc.wait()
    except KeyboardInterrupt:  # torchrun forwards the signal; the workers checkpoint and stop
        code = proc.wait()
    if launch.node_rank == 0:
        record_failure_if_silent(run_path, code)
    return code


def record_failure_if_silent(run_path: Path, code: int) -> None:
    from ftui.rundir.events import EventLog, read_events
    from ftui.rundir.events_schema import FINAL_STATUSES

    run = RunDir(Path(run_path))
    events = read_events(run.events)
    statuses = [e for e in events if e.get("type") == "status"]
    if statuses and statuses[-1].get("status") in FINAL_STATUSES:
        return
    step = max((e.get("step", 0) for e in events if e.get("type") == "step"), default=0)
    message = f"a worker process died (torchrun exit code {code}); the run ended at step {step}"
    log = EventLog(run.events)
    log.emit("log", step, level="error", message=message)
    log.emit("status", step, status="failed", message=message)
    log.close()


def wait_for_run_dir(run_path: Path, timeout: float = 600.0) -> None:
    """Node ranks > 0 join a run that node 0 prepares on the shared filesystem."""
    deadline = time.monotonic() + timeout
    while not RunDir(run_path).recipe.is_file():
        if time.monotonic() > deadline:
            raise FtuiError(f"{run_path}: node 0 has not created this run in {timeout:.0f}s; "
                            f"is the run directory on a filesystem all nodes share?")
        time.sleep(1.0)


def launch_from_args(args) -> Launch:
    """The `ftui train` flags --nproc, --nnodes, --node-rank, --master-addr, --master-port; a flag
    not given takes `accelerate config`'s value (accelerate_config.py), then Launch's default."""
    from .accelerate_config import launch_defaults

    flags = {"nproc": args.nproc, "nnodes": args.nnodes, "node_rank": args.node_rank,
             "master_addr": args.master_addr, "master_port": args.master_port}
    given = {k: v for k, v in flags.items() if v is not None}
    launch = Launch(**{**launch_defaults(), **given})
    launch.check()
    return launch
