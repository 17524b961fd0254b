"""Image classification: a random ResNet-18-shaped model, trained, exported, timed.

    python benchmarks/task_image.py [--steps 80] [--threads 2] [--batch-size 32] [--side 64]
    python benchmarks/task_image.py --check-archs     # export + gates for each claimed architecture

No pretrained vision weights exist offline, so the model is ResNetConfig with ResNet-18's shape
(basic blocks, depths 2-2-2-2, widths 64-128-256-512, 11.2M parameters; `ResNetConfig()`'s defaults
are ResNet-50) and random weights, with resnet-50's image processor (ConvNeXt style: short side to
side/0.875, centre crop, bicubic, ImageNet mean/std) at --side pixels. Data: demo:fashion-mnist when
Debian's dataset-fashion-mnist is installed (28x28 grey, 10 classes), else demo:digits (8x8).

Runs the real commands, each in its own process with the same thread count:
  1. `ftui train --headless --task image-classification --max-steps N` (one evaluation, at the end):
     training throughput over steps WARMUP+1..N (images/s, from the step events' times) and the
     accuracy reached; plus what the per-image PIL preprocessing alone costs;
  2. `ftui export RUN --onnx --quantize int8`: the preprocessing gate (numpy vs HF processor), fp32
     max |Δlogit|, int8 agreement and accuracy drop, and latency at batch 1 and 32 (PyTorch vs
     onnxruntime fp32 / int8) with the speed-up ratios, read back from the bundle's report.json.
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


def resnet18(path: Path, side: int) -> int:
    """Saves a random ResNet-18-shaped backbone and resnet-50's processor at `side`; returns its parameter count."""
    import torch
    from transformers import ConvNextImageProcessor, ResNetConfig, ResNetModel

    torch.manual_seed(0)
    config = ResNetConfig(embedding_size=64, hidden_sizes=[64, 128, 256, 512], depths=[2, 2, 2, 2], layer_type="basic")
    model = ResNetModel(config)
    model.save_pretrained(path)
    ConvNextImageProcessor(size={"shortest_edge": side}, crop_pct=0.875, resample=3,
                           image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225]).save_pretrained(path)
    return sum(p.numel() for p in model.parameters())


def preprocessing_ms(model: Path, data: str, n: int = 200) -> float:
    """Mean ms per image of what each training item costs before the model: decode, crop, HF processor."""
    from ftui.trainer.data.image import load_image_data
    from ftui.trainer.data.image_features import Augment, ImageClassificationDataset
    from ftui.trainer.recipe import DataSection
    from ftui.trainer.tasks.image import load_image_processor

    class Ref:
        name, source = "bench", str(model)

    split = load_image_data(DataSection(train=data, max_train_rows=n, max_validation_rows=10), 0)
    dataset = ImageClassificationDataset(split.train, load_image_processor(Ref), split.label_names, Augment(False))
    start = time.perf_counter()
    for i in range(len(dataset)):
        dataset[i]
    return 1000 * (time.perf_counter() - start) / len(dataset)


def throughput(run: Path, batch: int) -> tuple[float, dict]:
    steps = [e for e in events(run) if e["type"] == "step"]
    first = next(e for e in steps if e["step"] >= WARMUP)
    last = steps[-1]
    images = (last["step"] - first["step"]) * batch
    final = [e for e in events(run) if e["type"] == "eval"][-1]["metrics"]
    return images / (last["t"] - first["t"]), final


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=80)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--side", type=int, default=64)
    p.add_argument("--check-archs", action="store_true", help="only export each claimed architecture")
    args = p.parse_args()
    if args.check_archs:
        return check_archs()
    import onnxruntime
    import torch
    import transformers

    data = "demo:fashion-mnist" if FASHION.is_file() else "demo:digits"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        params = resnet18(tmp / "resnet18", args.side)
        print(f"setup: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {args.threads} threads; "
              f"torch {torch.__version__}, transformers {transformers.__version__}, onnxruntime {onnxruntime.__version__}")
        print(f"model: random ResNet-18 shape (basic 2-2-2-2, 64..512), {params / 1e6:.1f}M params, "
              f"{args.side}x{args.side} input (ConvNeXt-style processor, bicubic, crop_pct 0.875)")
        print(f"data:  {data}, 4,000-image seeded sample, 1,000 validation images; batch {args.batch_size}, "
              f"{args.steps} steps, lr 1e-3, augment crop; throughput over steps {WARMUP + 1}..{args.steps}")
        print(f"preprocessing alone (decode + crop + HF processor, one item): {preprocessing_ms(tmp / 'resnet18', data):.2f} ms/image")
        recipe = tmp / "recipe.toml"
        recipe.write_text(f'[model]\nname = "{tmp / "resnet18"}"\n[task]\ntype = "image-classification"\n'
                          f'[data]\ntrain = "{data}"\n[train]\nmax_steps = {args.steps}\nbatch_size = {args.batch_size}\n'
                          f'lr = 1e-3\nthreads = {args.threads}\nlogging_steps = 5\neval_every = {args.steps}\n'
                          f'[run]\noutput_dir = "{tmp / "runs"}"\nname = "bench"\n')
        wall = ftui(["train", str(recipe), "--headless"], args.threads)
        run = tmp / "runs" / "bench"
        rate, final = throughput(run, args.batch_size)
        print(f"train: {rate:.1f} images/s  ({wall:.0f} s wall incl. start-up and the evaluation); "
              f"accuracy {100 * final['accuracy']:.2f}%, macro-F1 {100 * final['f1_macro']:.2f}% after {args.steps} steps")
        wall = ftui(["export", str(run), "--onnx", "--quantize", "int8", "--threads", str(args.threads)], args.threads)
        report_export(json.loads((run / "export" / "bundle" / "report.json").read_text()), wall)


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
