"""Scale-out: 1 vs 2 processes (torchrun, DDP, gloo on CPU), through `ftui train --nproc`.

    python benchmarks/scale_out.py [--steps 30] [--batch-size 16] [--model minilm-l6]

One invocation: the same recipe with 1 process and with 2 (1 torch thread each, so 2 processes
use 2 cores), global samples/s from the event log, scaling efficiency, and the cost of ftui's
per-step command/NaN all-reduce measured on its own (a 2-rank gloo loop) and as a share of the
step time. On a GPU machine pass --threads 0 and --nproc-max N to use every GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WARMUP = 5


def run_ftui(nproc: int, args) -> dict:
    runs = tempfile.mkdtemp()
    cmd = [sys.executable, "-m", "ftui.tui.cli", "train", "--headless", "--nproc", str(nproc),
           "--model", args.model, "--max-steps", str(args.steps), "--batch-size", str(args.batch_size),
           "--name", "bench", "--set", f"run.output_dir={json.dumps(runs)}", "--set", "train.logging_steps=5",
           "--set", f"train.threads={args.threads}"]
    env = dict(os.environ, OMP_NUM_THREADS=str(max(args.threads, 1)), HF_HUB_OFFLINE="1")
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    events = [json.loads(line) for line in open(Path(runs) / "bench" / "events.jsonl")]
    steps = {e["step"]: e for e in events if e["type"] == "step"}
    elapsed = steps[args.steps]["t"] - steps[WARMUP]["t"]
    samples = (args.steps - WARMUP) * args.batch_size * nproc
    out = {"samples_per_s": samples / elapsed, "step_s": elapsed / (args.steps - WARMUP)}
    timed = [e for s, e in steps.items() if s > WARMUP and "rank_sync_s" in e]
    if timed:
        out["sync_s"] = statistics.median(max(e["rank_sync_s"]) for e in timed)
        out["rank_step_s"] = timed[-1]["rank_step_s"]
    return out


def probe_allreduce(iterations: int = 2000) -> None:
    """Run under torchrun: the per-step all-reduce alone, as StepSync does it."""
    import torch
    import torch.distributed as dist

    from ftui.trainer.engine.stepsync import Decision, StepSync

    dist.init_process_group("gloo")
    sync = StepSync()
    for _ in range(50):
        sync.exchange(Decision())
    started = time.perf_counter()
    for _ in range(iterations):
        sync.exchange(Decision())
    per_call = (time.perf_counter() - started) / iterations
    if dist.get_rank() == 0:
        print(json.dumps({"allreduce_s": per_call, "torch": torch.__version__}))
    dist.destroy_process_group()


def measure_allreduce() -> float:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", __file__, "--probe"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    return json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1])["allreduce_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16, help="per process")
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--nproc-max", type=int, default=2)
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        return probe_allreduce()
    import torch

    print(f"setup: python {platform.python_version()}, torch {torch.__version__}, {os.cpu_count()} cores, "
          f"{args.threads} thread(s)/process, model {args.model}, batch {args.batch_size}/process, "
          f"steps {WARMUP + 1}..{args.steps} timed, backend {'nccl' if torch.cuda.is_available() else 'gloo'}")
    results = {n: run_ftui(n, args) for n in range(1, args.nproc_max + 1) if n in (1, args.nproc_max)}
    base = results[1]["samples_per_s"]
    for n, r in results.items():
        eff = r["samples_per_s"] / (n * base)
        print(f"{n} process(es): {r['samples_per_s']:8.1f} samples/s global, {r['step_s'] * 1000:7.1f} ms/step, "
              f"scaling efficiency {100 * eff:5.1f}%" + (f", per-rank step s {r['rank_step_s']}" if "rank_step_s" in r else ""))
    allreduce = measure_allreduce()
    step_s = results[args.nproc_max]["step_s"]
    print(f"per-step command all-reduce (2 ranks, alone): {allreduce * 1e6:.0f} us = "
          f"{100 * allreduce / step_s:.3f}% of a {step_s * 1000:.0f} ms step (target <= 1%)")
    if "sync_s" in results[args.nproc_max]:
        print(f"time at the step-boundary sync in the run, incl. waiting for the slower rank: "
              f"{results[args.nproc_max]['sync_s'] * 1000:.2f} ms/step")


if __name__ == "__main__":
    main()
