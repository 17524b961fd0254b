"""Fine-tuning strategies side by side: full, frozen, llrd, lora on MiniLM and demo:tweets.

    python benchmarks/strategies.py [--steps 60] [--batch-size 32] [--threads N] [--validation-rows 1000]

Each strategy is one `ftui train --headless` in its own process (same seed, same data sample,
same step count and batch, all cores by default), so peak RSS is that process's own
(getrusage ru_maxrss). Reported per strategy: trainable / total parameters (run_start),
training samples/s (the median of the 5-step intervals after step WARMUP, from the step
events; the evaluation and checkpoint at the last step are outside them), peak RSS, the
newest checkpoint's size, and validation accuracy after the run (its final evaluation on the
held-out split), each with its ratio or difference to full.

Learning rates differ on purpose: what each strategy is normally run with (full and llrd 1e-4,
the recipe default; frozen 5e-3 and lora 3e-3: few parameters, most of them starting from scratch).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

WARMUP = 10
STRATEGIES = {"full": 1e-4, "frozen": 5e-3, "llrd": 1e-4, "lora": 3e-3}

# The CLI in this process, then this process's peak RSS (KiB on Linux) on stderr's last line.
WRAPPED_CLI = """
import resource, sys
from ftui.tui.cli import main
code = main(sys.argv[1:])
print("MAXRSS", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def run_strategy(strategy: str, lr: float, args, runs: Path) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    cmd = [sys.executable, "-c", WRAPPED_CLI, "train", "--headless", "--strategy", strategy,
           "--max-steps", str(args.steps), "--batch-size", str(args.batch_size), "--lr", str(lr),
           "--name", strategy, "--set", f"run.output_dir={json.dumps(str(runs))}",
           "--set", f"train.threads={args.threads}", "--set", "train.logging_steps=5",
           "--set", f"data.max_validation_rows={args.validation_rows}", "--set", "run.seed=42"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{strategy} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    maxrss_kib = int(out.stderr.strip().splitlines()[-1].split()[1])
    events = [json.loads(line) for line in open(runs / strategy / "events.jsonl")]
    start = next(e for e in events if e["type"] == "run_start")
    steps = {e["step"]: e for e in events if e["type"] == "step"}
    # The median of the 5-step intervals' rates: a neighbour's burst on a shared machine moves it less.
    rates = sorted(e["samples_per_s"] for s, e in steps.items() if s > WARMUP and e.get("samples_per_s"))
    final = [e for e in events if e["type"] == "eval"][-1]["metrics"]
    return {"strategy": strategy, "lr": lr, "total": start["params_total"], "trainable": start["params_trainable"],
            "samples_per_s": rates[len(rates) // 2], "rss_mb": maxrss_kib / 1024,
            "accuracy": final["accuracy"], "checkpoint_mb": _newest_checkpoint_mb(runs / strategy)}


def _newest_checkpoint_mb(run: Path) -> float:
    folders = sorted((run / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return sum(f.stat().st_size for f in folders[-1].rglob("*") if f.is_file()) / 1e6 if folders else 0.0


def print_table(results: list[dict]) -> None:
    full = next(r for r in results if r["strategy"] == "full")
    print(f"{'strategy':<9}{'lr':>8}{'trainable':>13}{'of total':>10}{'samples/s':>11}{'x full':>8}"
          f"{'peak RSS':>10}{'x full':>8}{'ckpt MB':>9}{'val acc':>9}{'Δ full':>9}")
    for r in results:
        print(f"{r['strategy']:<9}{r['lr']:>8.0e}{r['trainable']:>13,}{100 * r['trainable'] / r['total']:>9.2f}%"
              f"{r['samples_per_s']:>11.1f}{r['samples_per_s'] / full['samples_per_s']:>7.2f}x"
              f"{r['rss_mb']:>8.0f}MB{r['rss_mb'] / full['rss_mb']:>7.2f}x{r['checkpoint_mb']:>9.1f}"
              f"{r['accuracy']:>9.4f}{100 * (r['accuracy'] - full['accuracy']):>+8.1f}pt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--validation-rows", type=int, default=1000)
    parser.add_argument("--only", nargs="*", choices=list(STRATEGIES), help="a subset (full is always run)")
    args = parser.parse_args()
    if args.steps <= WARMUP:
        raise SystemExit(f"--steps must be more than {WARMUP}")
    import peft
    import torch
    import transformers

    print(f"setup: python {platform.python_version()}, torch {torch.__version__}, transformers "
          f"{transformers.__version__}, peft {peft.__version__}; {args.threads} threads ({os.cpu_count()} cores); "
          f"model minilm-l6, data demo:tweets (4,000-row train sample, {args.validation_rows} validation rows), "
          f"batch {args.batch_size}, {args.steps} steps (samples/s: median 5-step interval after step {WARMUP}), "
          f"seed 42, lora r=8 alpha=16 on query,value; load average {os.getloadavg()[0]:.2f}")
    chosen = ["full"] + [s for s in (args.only or STRATEGIES) if s != "full"]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for strategy in chosen:
            results.append(run_strategy(strategy, STRATEGIES[strategy], args, Path(tmp)))
            r = results[-1]
            print(f"  {strategy}: {r['samples_per_s']:.1f} samples/s, accuracy {r['accuracy']:.4f}", flush=True)
    print_table(results)
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (a shared machine skews samples/s)")


if __name__ == "__main__":
    main()
