"""Token classification (NER) on the defaults: MiniLM (minilm-l6) on demo:wnut16, trained, exported, timed.

    python benchmarks/task_ner.py [--steps 150] [--threads 2] [--batch-size 32] [--run RUN]

Runs the real commands, each in its own process with the same thread count:
  1. `ftui train --headless --task token-classification --max-steps N` (one evaluation, at the end):
     training throughput over steps WARMUP+1..N (samples/s, real tokens/s) and the entity F1 reached;
  2. `ftui export RUN --onnx --quantize int8`: fp32 max |Δlogit| against PyTorch, int8 word-tag agreement,
     the entity-F1 drop of each variant (a failed gate is reported, not fatal), and latency at batch 1
     and 32 (PyTorch vs onnxruntime fp32 / int8) with the speed-up ratios, read from the bundle's report.json.
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
import tomllib
from pathlib import Path

WARMUP = 10


def ftui(args: list[str], threads: int, ok=(0,)) -> float:
    """Runs `ftui ARGS` quietly; returns its wall time in seconds (exit codes other than `ok` stop the benchmark)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "ftui.tui.cli", *args], env=env, capture_output=True, text=True)
    if out.returncode not in ok:
        raise SystemExit(f"ftui {' '.join(args)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return time.perf_counter() - start


def events(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines() if line.strip()]


def train(args, root: Path) -> tuple[Path, float]:
    wall = ftui(["train", "--headless", "--task", "token-classification", "--max-steps", str(args.steps),
                 "--batch-size", str(args.batch_size), "--name", "ner",
                 "--set", f"run.output_dir={json.dumps(str(root))}",
                 "--set", f"train.eval_every={args.steps}", "--set", "train.logging_steps=5",
                 "--set", f"train.threads={args.threads}"], args.threads)
    return root / "ner", wall


def report_training(run: Path, args, wall: float) -> None:
    ev = events(run)
    start = next(e for e in ev if e["type"] == "run_start")
    steps = {e["step"]: e for e in ev if e["type"] == "step"}
    elapsed = steps[args.steps]["t"] - steps[WARMUP]["t"]
    samples = (args.steps - WARMUP) * args.batch_size
    counted = [e["tokens_per_s"] for s, e in steps.items() if s > WARMUP and e.get("tokens_per_s")]
    final = [e for e in ev if e["type"] == "eval"][-1]
    m = final["metrics"]
    lr = tomllib.loads((run / "recipe.toml").read_text())["train"]["lr"]
    print(f"data: {start['train_rows']} train / {start['validation_rows']} validation sentences, "
          f"{len(start['labels'])} BIO tags ({len(start['entity_types'])} entity types), "
          f"mean {start['mean_tokens']} word-piece tokens a sentence; {start['params_total'] / 1e6:.1f}M params")
    print(f"training:  {samples / elapsed:7.1f} samples/s  {samples * start['mean_tokens'] / elapsed:8.0f} real tok/s "
          f"(ftui's own count {sum(counted) / len(counted):.0f} tok/s), steps {WARMUP + 1}..{args.steps} "
          f"in {elapsed:.1f}s; whole command {wall:.0f}s")
    print(f"after {args.steps} steps (batch {args.batch_size}, lr {lr:g}): entity F1 "
          f"{m['f1']:.4f}  precision {m['precision']:.4f}  recall {m['recall']:.4f}  word accuracy "
          f"{m['accuracy']:.4f}  (seqeval, {start['validation_rows']} validation sentences, "
          f"eval {final['duration_s']:.1f}s)")


def report_export(run: Path, wall: float) -> None:
    report = json.loads((run / "export" / "bundle" / "report.json").read_text())
    pt = report["pytorch"]
    print(f"export: {'PASS' if report['passed'] else 'FAIL ' + ', '.join(report['failed_gates'])} in {wall:.0f}s; "
          f"tokenization gate {report['preprocessing']['sentences'] - report['preprocessing']['mismatches']}"
          f"/{report['preprocessing']['sentences']} sentences identical; PyTorch entity F1 {pt['f1']:.4f}")
    for v in report["variants"]:
        m = v["metrics"]
        print(f"  {v['name']:<5} {v['size_bytes'] / 1e6:5.1f} MB  max|Δ| {m['max_abs_diff']:.2e}  mean|Δ| "
              f"{m['mean_abs_diff']:.2e}  word-tag agreement {100 * m['label_agreement']:.2f}%  entity F1 "
              f"{m['f1']:.4f}  drop {m['accuracy_drop_pts']:+.2f} pts")
    tried = ", ".join(f"{t['scheme']} {t['accuracy_drop_pts']:+.2f}" for t in report["int8_tried"])
    print(f"  int8 schemes tried (entity F1 drop, pts; of those within the gate the fastest at batch 1 is kept): {tried}")
    print(f"  default model: {report['default_model']}")
    rows, setup = report["benchmark"]["rows"], report["benchmark"]["setup"]
    print(f"latency ms, median ({setup['threads']} threads, sequence {setup['sequence']}, real sentences padded):")
    base = {r["batch"]: r["median_ms"] for r in rows if r["runtime"] == "pytorch"}
    for name in dict.fromkeys(r["runtime"] for r in rows):
        by = {r["batch"]: r for r in rows if r["runtime"] == name}
        cells = "  ".join(f"batch {b}: {by[b]['median_ms']:8.2f} ms ({base[b] / by[b]['median_ms']:.2f}x PyTorch)"
                          for b in sorted(by))
        print(f"  {name:<8} {cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--run", help="skip training: report and export this run (trained by this benchmark before)")
    args = parser.parse_args()
    from importlib.metadata import version

    packages = ("torch", "transformers", "optimum-onnx", "onnxruntime", "seqeval")
    versions = ", ".join(f"{p} {version(p)}" for p in packages)
    print(f"setup: python {platform.python_version()}, {versions}; {args.threads} threads ({os.cpu_count()} cores); "
          f"model minilm-l6, data demo:wnut16, batch {args.batch_size}, {args.steps} steps, max_length 128")
    if args.run:  # measure the export again on a run this benchmark trained before
        run, wall = Path(args.run), float("nan")
    else:
        run, wall = train(args, Path(tempfile.mkdtemp(prefix="ftui-ner-bench-")))
    report_training(run, args, wall)
    # Exit code 1 = a gate failed: the report is still written, and its numbers are what this measures.
    wall = ftui(["export", str(run), "--onnx", "--quantize", "int8", "--threads", str(args.threads)], args.threads,
                ok=(0, 1))
    report_export(run, wall)
    print(f"(run directory kept: {run})")


if __name__ == "__main__":
    main()
