"""Image classification: pretrained MobileNetV2 against the same network randomly initialised, trained,
exported, timed.

    python benchmarks/task_image.py [--steps 60] [--threads 2] [--batch-size 32] [--side 64]
    python benchmarks/task_image.py --check-archs     # export + gates for each claimed architecture

The `mobilenet-v2` preset (torchvision's ImageNet-1k weights, ported once; 2.2M parameters with a
10-class head, 3.5M with ImageNet's) against MobileNetV2ForImageClassification with the same config, the same image
processor and random weights. Data: demo:fashion-mnist when Debian's dataset-fashion-mnist is
installed (28x28 grey, 10 classes), else demo:digits (8x8); both are resized to --side pixels.

Runs the real commands, each in its own process with the same thread count:
  1. `ftui train --headless --task image-classification --max-steps N` for each initialisation, same
     data, seed, steps and lr (one evaluation, at the end): validation accuracy, and training
     throughput over steps WARMUP+1..N (images/s, from the step events' times);
  2. the data loader alone (decode + augment + HF processor, batched by torch's DataLoader) with 0 and
     2 worker processes, images/s;
  3. `ftui export RUN --onnx --quantize int8` of the pretrained run: the preprocessing gate, fp32
     max |Δlogit|, int8 agreement and accuracy drop, and latency at batch 1 and 32 (PyTorch vs
     onnxruntime fp32 / the int8 variant that passed) with the speed-up ratios, from report.json.
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

WARMUP = 5
FASHION = Path("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz")


def ftui(args: list[str], threads: int) -> float:
    """Runs `ftui ARGS` quietly; returns its wall time in seconds."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), HF_HUB_OFFLINE="1")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "ftui.tui.cli", *args], env=env, capture_output=True, text=True)
    if out.returncode not in ((0, 1) if args[0] == "export" else (0,)):  # export: 1 = a gate failed, report written
        raise SystemExit(f"ftui {' '.join(args)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return time.perf_counter() - start


def events(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines() if line.strip()]


def random_mobilenet(pretrained: Path, path: Path) -> None:
    """The preset's config and image processor with randomly initialised weights (transformers' own init)."""
    import torch
    from transformers import AutoImageProcessor, MobileNetV2Config, MobileNetV2ForImageClassification

    torch.manual_seed(0)
    MobileNetV2ForImageClassification(MobileNetV2Config.from_pretrained(pretrained)).save_pretrained(path)
    AutoImageProcessor.from_pretrained(pretrained, use_fast=False).save_pretrained(path)


def loader_rate(model: Path, data: str, side: int, batch: int, workers: int, n: int = 640) -> float:
    """Images/s that torch's DataLoader delivers: decode, augment, HF processor, collate (no model)."""
    import torch

    from ftui.trainer.data.image import load_image_data
    from ftui.trainer.data.image_features import Augment, ImageClassificationDataset, collate
    from ftui.trainer.recipe import DataSection
    from ftui.trainer.tasks.image import load_image_processor

    class Ref:
        name, source = "bench", str(model)

    split = load_image_data(DataSection(train=data, max_train_rows=n, max_validation_rows=10), 0)
    dataset = ImageClassificationDataset(split.train, load_image_processor(Ref, image_size=side),
                                         split.label_names, Augment(False))
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, num_workers=workers, collate_fn=collate)
    start, seen = time.perf_counter(), 0
    for batch_items in loader:
        seen += len(batch_items["labels"])
    return seen / (time.perf_counter() - start)


def train(tmp: Path, name: str, model: str, data: str, args) -> dict:
    """One headless training run; its accuracy, images/s and wall time."""
    recipe = tmp / f"{name}.toml"
    recipe.write_text(f'[model]\nname = "{model}"\n[task]\ntype = "image-classification"\n'
                      f'[data]\ntrain = "{data}"\nimage_size = {args.side}\n'
                      f'[train]\nmax_steps = {args.steps}\nbatch_size = {args.batch_size}\n'
                      f'lr = {args.lr}\nthreads = {args.threads}\nlogging_steps = 5\neval_every = {args.steps}\n'
                      f'[run]\noutput_dir = "{tmp / "runs"}"\nname = "{name}"\n')
    wall = ftui(["train", str(recipe), "--headless"], args.threads)
    run = tmp / "runs" / name
    steps = [e for e in events(run) if e["type"] == "step"]
    first = next(e for e in steps if e["step"] >= WARMUP)
    rate = (steps[-1]["step"] - first["step"]) * args.batch_size / (steps[-1]["t"] - first["t"])
    final = [e for e in events(run) if e["type"] == "eval"][-1]["metrics"]
    return {"run": run, "wall": wall, "rate": rate, "accuracy": final["accuracy"], "f1": final["f1_macro"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--side", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--check-archs", action="store_true", help="only export each claimed architecture")
    args = p.parse_args()
    if args.check_archs:
        return check_archs()
    import onnxruntime
    import torch
    import transformers

    from ftui.models.presets import resolve_model

    data = "demo:fashion-mnist" if FASHION.is_file() else "demo:digits"
    pretrained = Path(resolve_model("mobilenet-v2").source)  # ports the preset on first use
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        random_mobilenet(pretrained, tmp / "random-init")
        print(f"setup: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {args.threads} threads; "
              f"torch {torch.__version__}, transformers {transformers.__version__}, onnxruntime {onnxruntime.__version__}")
        print(f"model: MobileNetV2 (2.2M params with a 10-class head), {args.side}x{args.side} input; pretrained = "
              f"mobilenet-v2 preset ({pretrained}), random = the same config, transformers' init")
        print(f"data:  {data} (4,000-image seeded sample at most, 1,000 validation images at most); batch "
              f"{args.batch_size}, {args.steps} steps, lr {args.lr}, augment crop; throughput over steps "
              f"{WARMUP + 1}..{args.steps}")
        runs = {name: train(tmp, name, model, data, args)
                for name, model in (("pretrained", "mobilenet-v2"), ("random", str(tmp / "random-init")))}
        for name, r in runs.items():
            print(f"train {name:<10}: accuracy {100 * r['accuracy']:.2f}%, macro-F1 {100 * r['f1']:.2f}%; "
                  f"{r['rate']:.1f} images/s ({r['wall']:.0f} s wall incl. start-up and the evaluation)")
        gap = 100 * (runs["pretrained"]["accuracy"] - runs["random"]["accuracy"])
        print(f"pretraining buys {gap:+.2f} points of validation accuracy (target: >= +10)")
        for workers in (0, 2):
            rate = loader_rate(pretrained, data, args.side, args.batch_size, workers)
            print(f"data loader alone, {workers} workers: {rate:.0f} images/s")
        wall = ftui(["export", str(runs["pretrained"]["run"]), "--onnx", "--quantize", "int8",
                     "--threads", str(args.threads)], args.threads)
        report_export(json.loads((runs["pretrained"]["run"] / "export" / "bundle" / "report.json").read_text()), wall)


def report_export(report: dict, wall: float) -> None:
    pre = report["preprocessing"]
    print(f"export: {'PASS' if report['passed'] else 'FAIL ' + ', '.join(report['failed_gates'])} in {wall:.0f} s; "
          f"{report['rows']} validation images; numpy vs {pre['processor']}: max |Δpixel| {pre['max_abs_diff']:.1e}")
    pt = report["pytorch"]["accuracy"]
    for v in report["variants"]:
        m = v["metrics"]
        print(f"  {v['name']:<5} {v['size_bytes'] / 1e6:5.1f} MB  max|Δlogit| {m['max_abs_diff']:.1e}  agreement "
              f"{100 * m['label_agreement']:.2f}%  accuracy {100 * m['accuracy']:.2f}% (PyTorch {100 * pt:.2f}%, "
              f"drop {m['accuracy_drop_pts']:.2f} pts)")
    rows = report["benchmark"]["rows"]
    setup = report["benchmark"]["setup"]
    base = {r["batch"]: r["median_ms"] for r in rows if r["runtime"] == "pytorch"}
    print(f"latency ({setup['threads']} threads, {setup['image']} images; median ms, speed-up over PyTorch eager):")
    for r in rows:
        print(f"  {r['runtime']:<8} batch {r['batch']:>2}: {r['median_ms']:8.2f} ms  {r['throughput_per_s']:8.1f} images/s"
              f"  {base[r['batch']] / r['median_ms']:5.2f}x")


ARCHS = {  # model_type: (config class and kwargs, processor class and kwargs), all tiny, 32x32 input
    "resnet": ("ResNetConfig", dict(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic"),
               "ConvNextImageProcessor", dict(size={"shortest_edge": 32}, crop_pct=0.875)),
    "convnext": ("ConvNextConfig", dict(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2),
                 "ConvNextImageProcessor", dict(size={"shortest_edge": 32}, crop_pct=0.875)),
    "vit": ("ViTConfig", dict(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=32), "ViTImageProcessor", dict(size={"height": 32, "width": 32})),
    "deit": ("DeiTConfig", dict(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                intermediate_size=32), "DeiTImageProcessor",
             dict(size={"height": 36, "width": 36}, crop_size={"height": 32, "width": 32})),
    "mobilenet_v2": ("MobileNetV2Config", dict(image_size=32, depth_multiplier=0.35), "MobileNetV2ImageProcessor",
                     dict(size={"shortest_edge": 36}, crop_size={"height": 32, "width": 32})),
    "swin": ("SwinConfig", dict(image_size=32, patch_size=4, embed_dim=8, depths=[1, 1], num_heads=[1, 2],
                                window_size=4), "ViTImageProcessor", dict(size={"height": 32, "width": 32})),
}


def check_archs() -> None:
    """Exports a tiny random model of each claimed architecture on 60 real digit images; prints the gates."""
    import torch
    import transformers
    from PIL import Image

    from ftui.export.pipeline import ExportOptions, run_export
    from ftui.trainer.data.image import digits

    torch.set_num_threads(1)
    data = digits()
    with tempfile.TemporaryDirectory() as tmp:
        val = Path(tmp) / "val"
        for i in range(60):
            (val / data.labels[i]).mkdir(parents=True, exist_ok=True)
            Image.fromarray(data.images[i]).save(val / data.labels[i] / f"{i}.png")
        labels = [str(d) for d in range(10)]
        for model_type, (config_cls, config_kw, proc_cls, proc_kw) in ARCHS.items():
            ck = Path(tmp) / model_type
            config = getattr(transformers, config_cls)(**config_kw, id2label=dict(enumerate(labels)),
                                                       label2id={n: i for i, n in enumerate(labels)})
            torch.manual_seed(0)
            getattr(transformers, config_cls.replace("Config", "ForImageClassification"))(config).save_pretrained(ck)
            getattr(transformers, proc_cls)(**proc_kw).save_pretrained(ck)
            start = time.perf_counter()
            report = run_export(ExportOptions(source=ck, data=val, quantize="int8", benchmark=False))
            fp32, int8 = report.variants[0].metrics, report.variants[-1].metrics
            print(f"{model_type:<13} {'PASS' if report.passed else 'FAIL ' + ', '.join(report.failed_gates):<6} "
                  f"|Δpixel| {report.preprocessing['max_abs_diff']:.0e}  fp32 max|Δ| {fp32['max_abs_diff']:.1e}  "
                  f"int8 agreement {100 * int8['label_agreement']:.0f}%  ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
