"""`ftui export` as one function: checkpoint -> ONNX -> validated on real data -> variants -> benchmark -> bundle.

The TUI's export screen calls run_export from a worker thread and shows `progress(stage, message)`;
the CLI prints the same messages. Gate failures do not raise: the report and bundle are written and
`report.passed` is False. Bad input raises ExportError (one line).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import ExportError
from .gates import accuracy_gate, atol_gate, shape_gate, tokenization_gate
from .report import ExportReport, VariantResult
from .source import ExportSource, resolve_source

Progress = Callable[[str, str], None]
# Preferred default model of the bundle, when it passed its gates: smallest and fastest first.
PREFERENCE = ("int8", "O2", "O1", "fp32")


@dataclass
class ExportOptions:
    source: Path
    optimize: str | None = None  # "O1" | "O2"
    quantize: str | None = None  # "int8"
    atol: float = 1e-4
    max_accuracy_drop: float = 1.0  # percentage points
    data: Path | None = None
    output: Path | None = None  # default: <run>/export, or <checkpoint>/export
    benchmark: bool = True
    threads: int | None = None  # benchmark threads (default: all cores)


@dataclass
class _Clock:
    start: float = field(default_factory=time.perf_counter)
    laps: dict = field(default_factory=dict)

    def lap(self, name: str, since: float) -> float:
        now = time.perf_counter()
        self.laps[f"{name}_s"] = now - since
        return now


def run_export(opts: ExportOptions, progress: Progress | None = None) -> ExportReport:
    """Runs the whole export; returns the report (also written to the bundle)."""
    say = progress or (lambda stage, message: None)
    _check_options(opts)
    source = resolve_source(Path(opts.source))
    examples = _examples(source, opts.data)
    from .bundle import finish_bundle, prepare_bundle_dir

    bundle = prepare_bundle_dir(Path(opts.output) if opts.output else _default_output(source))
    report = ExportReport(str(opts.source), str(source.checkpoint), bundle, str(examples.path), len(examples.texts),
                          source.labels, source.max_length)
    clock = _Clock()
    say("load", f"loading {source.checkpoint}")
    model = _load_pytorch(source.checkpoint)
    ref = _export_and_validate(model, source, examples, bundle, opts, report, say, clock)
    t = time.perf_counter()
    if opts.optimize:
        _add_optimized(opts, bundle, ref, report, say)
    if opts.quantize:
        _add_int8(opts, bundle, ref, report, say)
    t = clock.lap("variants", t)
    report.default_model = _default_model(report)
    if opts.benchmark:
        _run_benchmark(model, examples.texts, bundle, opts, report, say)
        clock.lap("benchmark", t)
    report.timings = {**clock.laps, "total_s": time.perf_counter() - clock.start}
    _write_manifest(bundle, report)
    finish_bundle(bundle, report, source.recipe)
    say("done", "PASS" if report.passed else "FAIL: " + ", ".join(report.failed_gates))
    return report


def _check_options(opts: ExportOptions) -> None:
    if opts.optimize not in (None, "O1", "O2"):
        raise ExportError(f"--optimize {opts.optimize}: choose O1 or O2")
    if opts.quantize not in (None, "int8"):
        raise ExportError(f"--quantize {opts.quantize}: only int8 is supported")
    if opts.atol <= 0 or opts.max_accuracy_drop < 0:
        raise ExportError("--atol must be > 0 and --max-accuracy-drop >= 0")
    if opts.threads is not None and opts.threads < 1:
        raise ExportError("--threads must be at least 1")


def _examples(source: ExportSource, data: Path | None):
    from .data import load_examples

    path = Path(data) if data else source.validation
    if path is None:
        where = f"{source.run_dir}/data/validation.jsonl is missing" if source.run_dir else "the checkpoint is not inside a run"
        raise ExportError(f"no validation split: {where}; pass --data FILE (CSV or JSONL with text,label)")
    return load_examples(path, source.labels)


def _default_output(source: ExportSource) -> Path:
    return (source.run_dir or source.checkpoint) / "export"


def _load_pytorch(checkpoint: Path):
    import torch
    from transformers import AutoModelForSequenceClassification

    try:
        return AutoModelForSequenceClassification.from_pretrained(checkpoint, use_safetensors=True,
                                                                   dtype=torch.float32).eval()
    except (OSError, ValueError) as e:
        raise ExportError(f"{checkpoint}: cannot load the model ({str(e).splitlines()[0][:200]})") from None


def _export_and_validate(model, source, examples, bundle, opts, report, say, clock):
    """Starts the PyTorch reference pass, exports fp32 meanwhile, then applies the tokenization, atol,
    accuracy and shape gates; returns the reference for the variants."""
    import copy

    import numpy as np

    from .convert import export_onnx, graph_info
    from .validate import Reference, check_tokenization

    say("validate", f"running {len(examples.texts)} validation texts through PyTorch (in the background)")
    # The reference runs on its own copy: the exporter patches the module it traces.
    ref = Reference(copy.deepcopy(model), source.checkpoint / "tokenizer.json", source.max_length,
                    _pad_token(source.checkpoint), examples.texts, np.array(examples.label_ids),
                    len(source.labels), opts.threads or os.cpu_count() or 1)
    say("export", "exporting to ONNX with optimum")
    fp32 = export_onnx(model, source.checkpoint, bundle)
    info = graph_info(fp32)
    report.opset = info.opset
    t = clock.lap("export", clock.start)
    report.tokenization = check_tokenization(source.checkpoint, ref.tokenizer, examples.texts, source.max_length)
    report.gates.append(tokenization_gate(report.tokenization))
    say("validate", "running the validation texts through onnxruntime (fp32)")
    result = ref.check("fp32", fp32, f"opset {info.opset}; dynamic axes: {_axes(info)}")
    report.pytorch = {**_task_metrics(ref), "size_bytes": _size(source.checkpoint / "model.safetensors")}
    report.gates.append(atol_gate("fp32", result.metrics["max_abs_diff"], opts.atol))
    _add_variant(report, result, opts)
    clock.lap("validate", t)
    return ref


def _add_variant(report: ExportReport, result: VariantResult, opts: ExportOptions) -> None:
    report.variants.append(result)
    report.gates.append(accuracy_gate(result.name, result.metrics["accuracy_drop_pts"], opts.max_accuracy_drop))
    report.gates.append(shape_gate(result.name, result.shapes))


def _add_optimized(opts, bundle, ref, report, say) -> None:
    from .variants import optimize

    say("optimize", f"onnxruntime {opts.optimize} graph optimization")
    path = optimize(bundle / "model.onnx", opts.optimize, bundle / f"model.{opts.optimize}.onnx")
    _add_variant(report, ref.check(opts.optimize, path, f"onnxruntime {opts.optimize} graph optimizations"), opts)


def _add_int8(opts, bundle, ref, report, say) -> None:
    """Tries each int8 scheme in order; keeps the first that passes the accuracy gate, else the least bad."""
    from .variants import INT8_SCHEMES, quantize_int8

    results = []
    for scheme in INT8_SCHEMES:
        say("quantize", f"dynamic int8, {scheme} weights")
        path = quantize_int8(bundle / "model.onnx", bundle / f"model.int8.{scheme}.onnx", scheme)
        result = ref.check("int8", path, f"dynamic int8, {scheme} weights")
        drop = result.metrics["accuracy_drop_pts"]
        report.int8_tried.append({"scheme": scheme, "accuracy": result.metrics["accuracy"], "accuracy_drop_pts": drop,
                                  "passed": drop <= opts.max_accuracy_drop})
        results.append(result)
        if drop <= opts.max_accuracy_drop:
            break
    chosen = min(results, key=lambda r: r.metrics["accuracy_drop_pts"]) if results[-1].metrics[
        "accuracy_drop_pts"] > opts.max_accuracy_drop else results[-1]
    for r in results:
        if r is not chosen:
            (bundle / r.file).unlink()
    (bundle / chosen.file).rename(bundle / "model.int8.onnx")
    chosen.file = "model.int8.onnx"
    chosen.note += f" (chosen; tried {', '.join(t['scheme'] for t in report.int8_tried)})"
    _add_variant(report, chosen, opts)


def _default_model(report: ExportReport) -> str:
    failed = set(report.failed_gates)
    ok = {v.name: v.file for v in report.variants if not any(g.startswith(v.name + " ") for g in failed)}
    return next((ok[n] for n in PREFERENCE if n in ok), "model.onnx")


def _run_benchmark(model, texts, bundle, opts, report, say) -> None:
    from . import benchmark as bench

    threads = opts.threads or os.cpu_count() or 1
    sequence = min(bench.SEQUENCE, report.max_length)
    say("benchmark", f"latency at batch 1 and 32, sequence {sequence}, {threads} threads")
    inputs = bench.fixed_inputs(bundle / "tokenizer.json", texts, list(_inputs(bundle)), sequence)
    variants = {v.name: bundle / v.file for v in report.variants}
    report.benchmark = bench.benchmark(model, variants, inputs, threads, bench.DEFAULT_BUDGET)
    report.benchmark_setup = {"threads": threads, "sequence": sequence, **_versions()}


def _write_manifest(bundle: Path, report: ExportReport) -> None:
    from .bundle import write_manifest

    write_manifest(bundle, report.labels, report.max_length, {v.name: v.file for v in report.variants},
                   report.default_model, report.opset, _pad_token(bundle))


def _task_metrics(ref) -> dict:
    from .metrics import task_metrics

    return task_metrics(ref.logits, ref.truth)


def _inputs(bundle: Path) -> dict:
    from .convert import graph_info

    return graph_info(bundle / "model.onnx").inputs


def _axes(info) -> str:
    """The named (dynamic) axes of the graph inputs, e.g. 'batch_size, sequence_length'."""
    return ", ".join(dict.fromkeys(d for dims in info.inputs.values() for d in dims if isinstance(d, str))) or "none"


def _pad_token(folder: Path) -> str:
    """The pad token named in tokenizer_config.json (a string or an AddedToken dict); [PAD] otherwise."""
    import json

    try:
        pad = json.loads((folder / "tokenizer_config.json").read_text()).get("pad_token") or "[PAD]"
    except (OSError, ValueError):
        return "[PAD]"
    return pad.get("content", "[PAD]") if isinstance(pad, dict) else str(pad)


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else 0


def _versions() -> dict:
    from importlib.metadata import version

    return {p: version(p) for p in ("torch", "transformers", "optimum-onnx", "onnxruntime", "onnx")}
