"""Training throughput: a seed-style plain loop vs a tuned plain HF Trainer script vs `ftui train`.

    python benchmarks/train_throughput.py [--steps 125] [--threads 2] [--batch-size 32]

One invocation runs the three, each in its own process with the same torch thread count, on the
default model (minilm-l6) and the default data (demo:tweets, ftui's seeded 4,000-row sample):
  (a) seed-style loop: every batch padded to 128 tokens, AdamW, CrossEntropy, shuffled order
  (b) plain HF Trainer script, tuned: dynamic padding (DataCollatorWithPadding), no eval or saves
  (c) `ftui train --headless`: the full product (events, hardware sampler, command polling)
Each times optimizer steps WARMUP..steps (the first WARMUP steps are excluded; the default is a
whole epoch, since length-grouped batches vary in length within one) and reports
samples/s, real (non-padding) tokens/s and model-FLOPs utilisation against a measured fp32
matmul peak, then the ratios c/a and c/b.
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

WARMUP = 10


def load_inputs(max_length: int = 128):
    from ftui.models.loading import load_tokenizer
    from ftui.models.presets import resolve_model
    from ftui.trainer.data.text import load_task_data
    from ftui.trainer.recipe import load_recipe

    recipe = load_recipe()
    model_ref = resolve_model(recipe.model.name)
    data = load_task_data(recipe.data, recipe.run.seed)
    tokenizer = load_tokenizer(model_ref)
    return model_ref, data, tokenizer


def flops_per_token(model) -> float:
    """Training FLOPs per real token: 6 x non-embedding parameters (forward 2N, backward 4N)."""
    n = sum(p.numel() for name, p in model.named_parameters() if "embeddings" not in name)
    return 6.0 * n


def variant_seed(args) -> dict:
    import torch
    from ftui.models.loading import load_for_classification

    model_ref, data, tokenizer = load_inputs()
    model = load_for_classification(model_ref, data.label_names)
    label_id = {n: i for i, n in enumerate(data.label_names)}
    enc = tokenizer(data.train.texts, truncation=True, max_length=128, padding="max_length", return_tensors="pt")
    labels = torch.tensor([label_id[x] for x in data.train.labels])
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
    loss_fn = torch.nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(labels), generator=g)
    model.train()
    real_tokens, t0 = 0, None
    for step in range(1, args.steps + 1):
        idx = order[(step - 1) * args.batch_size: step * args.batch_size]
        ids, mask = enc["input_ids"][idx], enc["attention_mask"][idx]
        logits = model(input_ids=ids, attention_mask=mask).logits
        loss = loss_fn(logits, labels[idx])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step == WARMUP:
            t0 = time.perf_counter()
        elif step > WARMUP:
            real_tokens += int(mask.sum())
    elapsed = time.perf_counter() - t0
    return _result(args, elapsed, real_tokens, flops_per_token(model))


def variant_hf(args) -> dict:
    from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments

    from ftui.models.loading import load_for_classification
    from ftui.trainer.data.features import TokenizedDataset

    model_ref, data, tokenizer = load_inputs()
    model = load_for_classification(model_ref, data.label_names)
    dataset = TokenizedDataset(data.train, tokenizer, data.label_names, 128)
    marks = {}

    class Clock(TrainerCallback):
        def on_step_end(self, a, state, control, **kw):
            if state.global_step in (WARMUP, args.steps):
                marks[state.global_step] = time.perf_counter()

    out = tempfile.mkdtemp()
    targs = TrainingArguments(output_dir=out, max_steps=args.steps, per_device_train_batch_size=args.batch_size,
                              learning_rate=5e-5, logging_steps=5, save_strategy="no", eval_strategy="no",
                              report_to="none", disable_tqdm=True, dataloader_pin_memory=False, seed=42)
    trainer = Trainer(model=model, args=targs, train_dataset=dataset,
                      data_collator=DataCollatorWithPadding(tokenizer), callbacks=[Clock()])
    trainer.train()
    elapsed = marks[args.steps] - marks[WARMUP]
    samples = (args.steps - WARMUP) * args.batch_size
    return _result(args, elapsed, samples * dataset.mean_length(), flops_per_token(model))


def variant_ftui(args) -> dict:
    from ftui.models.loading import load_for_classification

    runs = tempfile.mkdtemp()
    cmd = [sys.executable, "-m", "ftui.tui.cli", "train", "--headless", "--max-steps", str(args.steps),
           "--batch-size", str(args.batch_size), "--name", "bench",
           "--set", f"run.output_dir={json.dumps(runs)}", "--set", "train.logging_steps=5",
           "--set", f"train.threads={args.threads}"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    events = [json.loads(line) for line in open(Path(runs) / "bench" / "events.jsonl")]
    steps = {e["step"]: e for e in events if e["type"] == "step"}
    elapsed = steps[args.steps]["t"] - steps[WARMUP]["t"]
    start = next(e for e in events if e["type"] == "run_start")
    samples = (args.steps - WARMUP) * args.batch_size
    model_ref, data, _ = load_inputs()
    model = load_for_classification(model_ref, data.label_names)
    result = _result(args, elapsed, samples * start["mean_tokens"], flops_per_token(model))
    counted = [e["tokens_per_s"] for s, e in steps.items() if s > WARMUP and e.get("tokens_per_s")]
    result["ftui_counted_tokens_per_s"] = sum(counted) / len(counted) if counted else None
    return result


def _result(args, elapsed: float, real_tokens: float, fpt: float) -> dict:
    samples = (args.steps - WARMUP) * args.batch_size
    return {"elapsed_s": elapsed, "samples_per_s": samples / elapsed, "tokens_per_s": real_tokens / elapsed,
            "flops_per_token": fpt}


def matmul_peak(threads: int) -> float:
    """Measured fp32 matmul FLOP/s with this many threads: the ceiling MFU is quoted against."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    for _ in range(2):
        a @ b
    times = []
    for _ in range(5):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * 2048 ** 3 / sorted(times)[len(times) // 2]


def run_variant(name: str, args) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    cmd = [sys.executable, __file__, "--variant", name, "--steps", str(args.steps), "--threads", str(args.threads),
           "--batch-size", str(args.batch_size)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"variant {name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=125, help="125 = one epoch of the default 4,000 rows")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--variant", choices=("seed", "hf", "ftui"))
    args = parser.parse_args()
    if args.variant:
        import torch

        torch.set_num_threads(args.threads)
        print(json.dumps({"seed": variant_seed, "hf": variant_hf, "ftui": variant_ftui}[args.variant](args)))
        return
    import torch
    import transformers

    print(f"setup: python {platform.python_version()}, torch {torch.__version__}, transformers "
          f"{transformers.__version__}, {args.threads} threads ({os.cpu_count()} cores), model minilm-l6, "
          f"data demo:tweets (4,000-row sample), batch {args.batch_size}, steps {WARMUP + 1}..{args.steps} timed")
    peak = matmul_peak(args.threads)
    print(f"measured fp32 matmul peak: {peak / 1e9:.1f} GFLOP/s")
    names = {"seed": "(a) seed-style loop, pad to 128", "hf": "(b) plain HF Trainer, dynamic padding",
             "ftui": "(c) ftui train --headless"}
    results = {}
    for key, label in names.items():
        r = results[key] = run_variant(key, args)
        mfu = r["tokens_per_s"] * r["flops_per_token"] / peak
        print(f"{label:<40} {r['samples_per_s']:8.1f} samples/s {r['tokens_per_s']:9.0f} real tok/s  MFU {100 * mfu:5.1f}%")
    a, b, c = (results[k]["samples_per_s"] for k in ("seed", "hf", "ftui"))
    print(f"c/a = {c / a:.2f}x (target >= 3.0)   c/b = {c / b:.2f}x (target >= 1.0)")
    if results["ftui"].get("ftui_counted_tokens_per_s"):
        print(f"ftui's own counted real tokens/s: {results['ftui']['ftui_counted_tokens_per_s']:.0f}")


if __name__ == "__main__":
    main()
