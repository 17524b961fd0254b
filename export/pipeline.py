"""`ftui export` as one function: checkpoint -> ONNX -> validated on real data -> variants -> benchmark -> bundle.

The TUI's export screen calls run_export from a worker thread and shows `progress(stage, message)`;
the CLI prints the same messages. Gate failures do not raise: the report and bundle are written and
`report.passed` is False. Bad input raises ExportError (one line).
"""

from __future__ import annotations

import errno
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import ExportError
from .gates import accuracy_gate, atol_gate, shape_gate
from .report import ExportReport, VariantResult
from .source import ExportSource, resolve_source

Progress = Callable[[str, str], None]
# Errors of a disk that cannot take the bundle: one line for the user, not a traceback. EBUSY and EPERM:
# a bundle folder that is a (read-only) mount point or immutable cannot be renamed aside at publish.
WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EIO, errno.EFBIG, errno.EBUSY,
                errno.EPERM)


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
    calibration: Path | None = None  # static int8's training sample (default: the run's data/calibration.jsonl)
    fallback_budget: int = 4  # attempts at returning int8's costliest blocks to fp32 when it fails the gate


class ExportCancelled(ExportError):
    """The caller's cancel event was set: the export stopped at a stage boundary, nothing was published."""


def run_export(opts: ExportOptions, progress: Progress | None = None,
               cancel: threading.Event | None = None) -> ExportReport:
    """Runs the whole export; returns the report (also written to the bundle as report.json/.txt).

    The bundle is written in a staging folder and renamed into place when complete: an export that
    fails, is cancelled (``cancel`` set, checked at each stage) or is killed keeps the previous bundle.
    """
    _check_options(opts)
    return _Export(opts, progress or (lambda stage, message: None), cancel or threading.Event()).run()


class _Export:
    """One export, step by step; each step adds to the report."""

    def __init__(self, opts: ExportOptions, progress: Progress, cancel: threading.Event):
        from .bundle import prepare_bundle_dir

        self.opts, self.progress, self.cancel = opts, progress, cancel
        self.start, self.timings, self.ref = time.perf_counter(), {}, None
        self.source = resolve_source(Path(opts.source))
        self.task = self.source.task
        self.examples = self.task.load_examples(_validation_path(self.source, opts.data), self.source.labels)
        self.calibration = self.read_calibration() if opts.quantize else None  # checked before any write
        self.destination, self.bundle = prepare_bundle_dir(Path(opts.output) if opts.output
                                                           else _default_output(self.source))
        self.cores = opts.threads or os.cpu_count() or 1
        self.input_names: list[str] = []  # the fp32 graph's inputs, read once it is exported
        self.report = ExportReport(str(opts.source), str(self.source.checkpoint), self.destination, str(self.examples.path),
                                   len(self.examples), self.source.labels, self.source.max_length,
                                   task=self.task.name, primary_metric=self.task.primary_metric,
                                   columns=[list(c) for c in self.task.columns])

    def read_calibration(self):
        """(examples, rows dropped) of the calibration sample, checked before any work; None without one."""
        from ftui.rundir.layout import RunDir

        from .calibration import calibration_path, read_calibration

        run_file = RunDir(self.source.run_dir).calibration_data if self.source.run_dir else None
        path = calibration_path(run_file, self.opts.calibration)
        return read_calibration(self.task, self.source, path, self.examples) if path else None

    def run(self) -> ExportReport:
        """The stages into the staging folder, then the rename; on any failure the staging folder goes."""
        from .bundle import discard_staging, publish_bundle

        try:
            self.stages()
            self.say("publish", f"writing {self.destination}")
            publish_bundle(self.bundle, self.destination)
        except BaseException as e:
            if self.ref is not None:
                self.ref.cancel()
            discard_staging(self.bundle)
            if isinstance(e, OSError) and e.errno in WRITE_ERRORS:
                raise ExportError(f"{self.destination.parent}: writing the export failed ({e.strerror or e}); "
                                  f"any earlier bundle there is unchanged") from None
            raise
        self.progress("done", "PASS" if self.report.passed else "FAIL: " + ", ".join(self.report.failed_gates))
        return self.report

    def say(self, stage: str, message: str) -> None:
        """Reports a stage to the caller; stops here if the caller asked to cancel."""
        if self.cancel.is_set():
            raise ExportCancelled(f"export cancelled before {stage}; any earlier bundle in "
                                  f"{self.destination.parent} is unchanged")
        self.progress(stage, message)

    def stages(self) -> None:
        from .bundle import finish_bundle, relocate_models

        self.say("load", f"loading {self.source.checkpoint}")
        model = self.task.load_pytorch(self.source.checkpoint)
        ref = self.export_and_validate(model)
        t = time.perf_counter()
        if self.opts.optimize:
            self.add_optimized(ref)
        if self.opts.quantize:
            self.add_int8(ref)
        self.lap("variants", t)
        if self.opts.benchmark:
            self.benchmark(model)
        self.report.default_model = self.default_model()
        self.report.timings = {**self.timings, "total_s": time.perf_counter() - self.start}
        relocate_models(self.bundle, self.report)  # into onnx/, where transformers.js looks
        self.write_manifest()
        finish_bundle(self.bundle, self.report, self.source.recipe, self.task)

    def lap(self, name: str, since: float) -> float:
        now = time.perf_counter()
        self.timings[f"{name}_s"] = now - since
        return now

    def export_and_validate(self, model):
        """Starts the PyTorch reference pass, exports fp32 meanwhile, then applies the preprocessing, atol,
        accuracy and shape gates; returns the reference the variants are checked against."""
        import copy
        import inspect

        from .convert import export_onnx, graph_info
        from .reuse import saved_reference
        from .validate import Reference

        src, report = self.source, self.report
        accepted = list(inspect.signature(model.forward).parameters)
        split = self.task.split(src, self.examples, accepted)
        saved, report.reference = saved_reference(self.task, src, self.examples, split)
        if saved is None:
            self.say("validate", f"running {len(self.examples)} validation examples through PyTorch (in the background)")
        else:
            self.say("validate", f"reusing the trainer's fp32 logits of these {len(self.examples)} examples "
                                 f"(inputs and weights hashes match)")
        # The reference runs on its own copy: the exporter patches the module it traces.
        ref = self.ref = Reference(copy.deepcopy(model) if saved is None else None, self.task, src, self.examples,
                                   split, self.cores, saved)
        self.say("export", "exporting to ONNX with optimum")
        fp32 = export_onnx(model, src.checkpoint, self.bundle, self.task.optimum_task)
        info = graph_info(fp32)
        report.opset, self.input_names = info.opset, list(info.inputs)
        t = self.lap("export", self.start)
        checked = self.task.preprocessing_check(src, self.examples)
        if checked is not None:
            report.preprocessing, gate = checked
            report.gates.append(gate)
        self.say("validate", "running the validation examples through onnxruntime (fp32)")
        result = ref.check("fp32", fp32, f"opset {info.opset}; dynamic axes: {_axes(info)}")
        report.pytorch = {**self.task.task_metrics(ref.logits, self.examples),
                          "size_bytes": _size(src.checkpoint / "model.safetensors")}
        report.gates.append(atol_gate("fp32", result.metrics["max_abs_diff"], self.opts.atol))
        self.add_variant(result)
        self.lap("validate", t)
        self.timings["pytorch_pass_s"] = ref.pytorch_s  # overlaps export and validate
        return ref

    def add_variant(self, result: VariantResult) -> None:
        self.report.variants.append(result)
        self.report.gates.append(accuracy_gate(result.name, result.metrics["accuracy_drop_pts"],
                                               self.opts.max_accuracy_drop, self.task.primary_metric))
        self.report.gates.append(shape_gate(result.name, result.shapes))

    def add_optimized(self, ref) -> None:
        from .variants import optimize

        level = self.opts.optimize
        self.say("optimize", f"onnxruntime {level} graph optimization")
        path = optimize(self.bundle / "model.onnx", level, self.bundle / f"model.{level}.onnx")
        self.add_variant(ref.check(level, path, f"onnxruntime {level} graph optimizations"))

    def add_int8(self, ref) -> None:
        """Static and dynamic int8 side by side, the fp32 fallback if none passes (int8.py); one int8 variant."""
        from .calibration import calibration_inputs
        from .int8 import Int8Search

        names = self.input_names
        calibration = calibration_inputs(self.task, self.source, *self.calibration, names) if self.calibration else None
        fused, made = self.fused_graph()
        try:
            search = Int8Search(self.bundle, ref, self.report, self.say, self.opts.max_accuracy_drop,
                                self.opts.fallback_budget, calibration, names, fused, self.batch1_timer(names))
            self.add_variant(search.run())
        finally:
            if made:
                fused.unlink(missing_ok=True)

    def fused_graph(self) -> tuple[Path | None, bool]:
        """(the fp32 graph after onnxruntime's O2 transformer fusions, whether it was made just for int8):
        the --optimize O2 variant when there is one; none for a conv net or a model optimum cannot fuse."""
        from .variants import has_convolutions, optimize

        if self.opts.optimize == "O2":
            return self.bundle / "model.O2.onnx", False
        if has_convolutions(self.bundle / "model.onnx"):
            return None, False
        self.say("quantize", "fusing the transformer graph for dynamic int8 (onnxruntime O2)")
        try:
            return optimize(self.bundle / "model.onnx", "O2", self.bundle / "model.fused.onnx"), True
        except ExportError as e:
            self.report.int8_notes.append(f"dynamic int8 quantizes the unfused graph: {e}")
            return None, False

    def batch1_timer(self, names: list[str]):
        """{file: path} -> {file: median ms at batch 1}, the files timed in turns on the benchmark's inputs."""
        import numpy as np

        from . import benchmark as bench
        from .predictor import open_session

        def medians(files: dict[str, Path]) -> dict[str, float]:
            inputs, _ = self.task.benchmark_inputs(self.source, self.bundle, self.examples, names, (1,))
            sessions = {name: open_session(path, self.cores) for name, path in files.items()}
            calls = {name: (lambda s=s: s.run(None, inputs[1])) for name, s in sessions.items()}
            times = bench.time_round_robin(calls, bench.CHOICE_BUDGET)
            return {name: 1000 * float(np.median(t)) for name, t in times.items()}
        return medians

    def default_model(self) -> str:
        """The first passing variant in speed.PREFERENCE order that is not slower than fp32 at batch 1 or 32
        (the speed gate: onnxruntime's dynamic int8 convolutions, for one, are slower than fp32 on CPU)
        and within 10% of the fastest at batch 1."""
        from .speed import choose_default

        failed = self.report.failed_gates
        ok = {v.name: v.file for v in self.report.variants if not any(g.startswith(v.name + " ") for g in failed)}
        name, slow = choose_default(list(ok), self.report.benchmark)
        self.report.kept_off_default = slow
        return ok[name] if name else "model.onnx"

    def benchmark(self, model) -> None:
        from . import benchmark as bench
        from .machine import OtherLoad, cpu_features

        t = time.perf_counter()
        names = self.input_names
        inputs, setup = self.task.benchmark_inputs(self.source, self.bundle, self.examples, names, bench.BATCHES)
        sizes = ", ".join(f"{k} {v}" for k, v in setup.items())
        self.say("benchmark", f"latency at batch {' and '.join(map(str, bench.BATCHES))}, {sizes}, {self.cores} threads")
        variants = {v.name: self.bundle / v.file for v in self.report.variants}
        load = OtherLoad()
        self.report.benchmark = bench.benchmark(model, variants, inputs, self.cores, bench.DEFAULT_BUDGET, load)
        self.report.benchmark_setup = {"threads": self.cores, **setup, "cpu": cpu_features(), "load": load.to_dict(),
                                       **_versions()}
        self.lap("benchmark", t)

    def write_manifest(self) -> None:
        from .bundle import write_manifest

        r = self.report
        write_manifest(self.bundle, r.labels, {v.name: v.file for v in r.variants}, r.default_model, r.opset,
                       {"task": self.task.name, **self.task.manifest(self.source, self.bundle)})


def _check_options(opts: ExportOptions) -> None:
    if opts.optimize not in (None, "O1", "O2"):
        raise ExportError(f"--optimize {opts.optimize}: choose O1 or O2")
    if opts.quantize not in (None, "int8"):
        raise ExportError(f"--quantize {opts.quantize}: only int8 is supported")
    if opts.atol <= 0 or opts.max_accuracy_drop < 0:
        raise ExportError("--atol must be > 0 and --max-accuracy-drop >= 0")
    if opts.threads is not None and opts.threads < 1:
        raise ExportError("--threads must be at least 1")
    from .int8 import check_budget

    check_budget(opts.fallback_budget)


def _validation_path(source: ExportSource, data: Path | None) -> Path:
    if data:
        return Path(data)
    if source.validation is None:
        where = f"{source.run_dir}/data/validation.jsonl is missing" if source.run_dir else "the checkpoint is not inside a run"
        raise ExportError(f"no validation split: {where}; pass --data FILE (the run's validation format)")
    return source.validation


def _default_output(source: ExportSource) -> Path:
    return (source.run_dir or source.checkpoint) / "export"


def _axes(info) -> str:
    """The named (dynamic) axes of the graph inputs, e.g. 'batch_size, sequence_length'."""
    return ", ".join(dict.fromkeys(d for dims in info.inputs.values() for d in dims if isinstance(d, str))) or "none"


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else 0


def _versions() -> dict:
    from importlib.metadata import version

    return {p: version(p) for p in ("torch", "transformers", "optimum-onnx", "onnxruntime", "onnx")}
