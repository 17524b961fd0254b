"""`ftui sweep` against the same candidates as plain `ftui train --headless` runs, and the winner
against the default recipe trained as long.

    python benchmarks/sweep.py [--steps 150] [--lrs 3e-5,1e-4,3e-3] [--strategies full,lora]
                               [--threads 2] [--max-train-rows 4000] [--validation-rows 1000]

One invocation, three phases, each candidate in its own process:
  1. the sweep: `ftui sweep --lr ... --strategy ... --budget STEPS --json` (MiniLM, demo:tweets), wall time;
  2. every candidate again as a plain `ftui train --headless` with the same values, each timed;
     the target is sweep wall <= 1.1 x the sum of these (the sweep machinery costs nothing);
  3. the default recipe (full, lr 1e-4) with --max-steps TOTAL = candidates x STEPS, the compute the
     sweep spent;
  4. the winner promoted as the sweep tells the user to (`ftui train --resume WINNER --max-steps TOTAL`),
     so it has trained exactly as long as the default of phase 3. The target, winner >= default, is
     judged here: the same step count, the sweep's choice of recipe against the default's. Also printed:
     the winner at STEPS against the default at STEPS (one of the candidates when 1e-4 and full are
     on the axes, so >= holds by construction) and the winner at STEPS against the default at TOTAL
     (unlike lengths, information only).
Accuracy is each run's best evaluation on the held-out split (the best checkpoint's metric).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")


def shared(args, runs: Path) -> list[str]:
    return ["--max-train-rows", str(args.max_train_rows), "--seed", "42",
            "--runs-dir", str(runs)]


def sets(args) -> list[str]:
    return ["--set", f"train.threads={args.threads}", "--set", f"data.max_validation_rows={args.validation_rows}"]


def timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "ftui.tui.cli", *cmd], env=ENV, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"ftui {' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return wall, out


def best_accuracy(run: Path) -> float | None:
    events = [json.loads(line) for line in open(run / "events.jsonl") if line.strip()]
    return next((e.get("best_value") for e in reversed(events) if e["type"] == "summary"), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--lrs", default="3e-5,1e-4,3e-3")
    parser.add_argument("--strategies", default="full,lora")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-train-rows", type=int, default=4000)
    parser.add_argument("--validation-rows", type=int, default=1000)
    args = parser.parse_args()
    import torch
    import transformers

    lrs, strategies = args.lrs.split(","), args.strategies.split(",")
    count = len(lrs) * len(strategies)
    print(f"setup: python {platform.python_version()}, torch {torch.__version__}, transformers "
          f"{transformers.__version__}; {args.threads} torch threads ({os.cpu_count()} cores); minilm-l6 on "
          f"demo:tweets ({args.max_train_rows}-row train sample, {args.validation_rows} validation rows), batch 32, "
          f"{count} candidates (lr {args.lrs} x strategy {args.strategies}) x {args.steps} steps, seed 42; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        sweep_wall, out = timed(["sweep", "--lr", args.lrs, "--strategy", args.strategies, "--budget", str(args.steps),
                                 "--name", "sweep", "--json", *shared(args, runs), *sets(args)])
        board = json.loads(out.stdout.splitlines()[-1])
        print(f"sweep: {sweep_wall:.1f} s wall, winner {board['winner']}", flush=True)
        plain = {}
        for c in board["leaderboard"]:
            p = c["params"]
            wall, _ = timed(["train", "--headless", "--lr", str(p["train.lr"]), "--strategy", p["train.strategy"],
                             "--max-steps", str(args.steps), "--name", c["name"], *shared(args, runs / "plain"),
                             *sets(args)])
            plain[c["name"]] = (wall, best_accuracy(runs / "plain" / c["name"]))
            print(f"  plain {c['name']}: {wall:.1f} s, accuracy {plain[c['name']][1]:.4f}", flush=True)
        total = count * args.steps
        default_wall, _ = timed(["train", "--headless", "--max-steps", str(total), "--name", "default",
                                 *shared(args, runs / "default"), *sets(args)])
        default_acc = best_accuracy(runs / "default" / "default")
        winner_run = Path(board["folder"]) / next(c["run"] for c in board["leaderboard"] if c["name"] == board["winner"])
        promote_wall, _ = timed(["train", "--headless", "--resume", str(winner_run), "--max-steps", str(total)])
        promoted_acc = best_accuracy(winner_run)
    print(f"\n{'candidate':<28}{'status':>8}{'sweep acc':>11}{'plain acc':>11}{'sweep s':>9}{'plain s':>9}")
    for c in board["leaderboard"]:
        acc = f"{c['value']:.4f}" if c["value"] is not None else "-"
        print(f"{c['name']:<28}{c['status']:>8}{acc:>11}{plain[c['name']][1]:>11.4f}{c['wall_s']:>9.1f}"
              f"{plain[c['name']][0]:>9.1f}")
    plain_sum = sum(w for w, _ in plain.values())
    winner = next(c for c in board["leaderboard"] if c["name"] == board["winner"])
    print(f"sweep wall {sweep_wall:.1f} s / sum of plain runs {plain_sum:.1f} s = {sweep_wall / plain_sum:.3f}x "
          f"(target <= 1.1x)")
    print(f"winner {winner['name']} promoted to {total} steps ({promote_wall:.1f} s): accuracy {promoted_acc:.4f} "
          f"vs the default recipe at {total} steps {default_acc:.4f} ({default_wall:.1f} s): "
          f"{100 * (promoted_acc - default_acc):+.1f} pt (target >= 0)")
    print(f"winner at its {args.steps} steps {winner['value']:.4f} vs the default at {total}: "
          f"{100 * (winner['value'] - default_acc):+.1f} pt (unlike lengths; information only)")
    same = next((c for c in board["leaderboard"] if c["params"].get("train.strategy") == "full"
                 and float(c["params"].get("train.lr", 0)) == 1e-4), None)
    if same is not None and same["value"] is not None:  # the default recipe is one of the candidates
        print(f"the default recipe's own candidate (full, lr 1e-4) at the same {args.steps} steps: "
              f"{same['value']:.4f}; winner {100 * (winner['value'] - same['value']):+.1f} pt")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (a shared machine skews wall times)")


if __name__ == "__main__":
    main()
