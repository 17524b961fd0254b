"""The export report: validation per variant, the latency table, the gates; as JSON and as readable text."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ftui.rundir.tasks import DEFAULT_TASK, TASKS

from .gates import Gate
from .machine import describe_features, unreliable_line
from .speed import describe_slow


@dataclass
class VariantResult:
    """One ONNX file of the bundle and how it compares with PyTorch on the validation split."""

    name: str  # fp32, O1, O2, int8
    file: str
    size_bytes: int
    metrics: dict  # the task's compare(): max/mean |Δ|, agreement, task metrics, accuracy_drop_pts
    shapes: dict  # the task's shape_check()
    note: str = ""  # e.g. "dynamic int8, per-channel weights"


@dataclass
class ExportReport:
    source: str
    checkpoint: str
    bundle_path: Path
    data: str = ""
    rows: int = 0
    labels: list[str] = field(default_factory=list)
    max_length: int = 0
    opset: int = 0
    task: str = DEFAULT_TASK
    primary_metric: str = "accuracy"  # what accuracy_drop_pts measures (entity F1 for NER)
    columns: list = field(default_factory=lambda: [["acc", "accuracy"], ["F1", "f1_macro"]])
    preprocessing: dict = field(default_factory=dict)  # the tokenizer / image-processor check
    pytorch: dict = field(default_factory=dict)  # the task metrics, size_bytes
    variants: list[VariantResult] = field(default_factory=list)
    int8_tried: list[dict] = field(default_factory=list)  # every int8 scheme tried, with its accuracy drop
    int8_notes: list[str] = field(default_factory=list)  # what static int8 calibrated on, or why it was skipped
    int8_fallback: dict = field(default_factory=dict)  # the fp32 fallback's ranking and steps (int8.py), if it ran
    benchmark: list[dict] = field(default_factory=list)
    benchmark_setup: dict = field(default_factory=dict)  # threads, sequence, versions
    gates: list[Gate] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    default_model: str = "model.onnx"
    kept_off_default: dict = field(default_factory=dict)  # speed gate: {variant: {"batch", "vs_fp32", ...}}
    reference: dict = field(default_factory=dict)  # where PyTorch's logits came from: computed or reused

    @property
    def passed(self) -> bool:
        return bool(self.gates) and all(g.passed for g in self.gates)

    @property
    def failed_gates(self) -> list[str]:
        return [g.name for g in self.gates if not g.passed]

    def to_dict(self) -> dict:
        return {
            "v": 1, "passed": self.passed, "failed_gates": self.failed_gates,
            "source": self.source, "checkpoint": self.checkpoint, "bundle": str(self.bundle_path),
            "data": self.data, "rows": self.rows, "labels": self.labels, "max_length": self.max_length,
            "opset": self.opset, "default_model": self.default_model, "task": self.task,
            "primary_metric": self.primary_metric, "preprocessing": self.preprocessing,
            "pytorch": self.pytorch, "variants": [vars(v) for v in self.variants], "int8_tried": self.int8_tried,
            "int8_notes": self.int8_notes, "int8_fallback": self.int8_fallback,
            "benchmark": {"setup": self.benchmark_setup, "rows": self.benchmark},
            "gates": [g.to_dict() for g in self.gates], "timings": self.timings,
            "kept_off_default": self.kept_off_default, "reference": self.reference,
        }

    def to_text(self) -> str:
        verdict = "PASS" if self.passed else "FAIL: " + ", ".join(self.failed_gates)
        lines = [f"ftui export: {verdict}", f"bundle      {self.bundle_path}",
                 f"checkpoint  {self.checkpoint}  ({len(self.labels)} labels{self._max_length()}, opset {self.opset})",
                 f"data        {self.data}  ({self.rows} rows)", ""]
        lines += self._validation_table() + self._int8_lines() + [""]
        if self.reference:
            lines += [f"reference   {reference_line(self.reference)}", ""]
        if self.benchmark:
            lines += self._latency_table() + [""]
        if self.kept_off_default or self.benchmark:
            lines += [f"default     {self.default_model}"] + [f"  {line}" for line in describe_slow(self.kept_off_default)] + [""]
        lines += ["gates"] + [f"  {'PASS' if g.passed else 'FAIL'}  {g.name:<22} {g.detail}" for g in self.gates]
        if self.timings:
            lines += ["", "time        " + ", ".join(f"{k[:-2].replace('_', ' ')} {v:.1f}s" for k, v in self.timings.items())]
        return "\n".join(lines)

    def _max_length(self) -> str:
        spec = TASKS.get(self.task)
        return f", max_length {self.max_length}" if spec is None or spec.inputs == "text" else ""

    def _validation_table(self) -> list[str]:
        width = max([len("model.safetensors")] + [len(v.file) for v in self.variants]) + 3  # onnx/model_quantized.onnx
        heads = "".join(f"  {h:>6}" for h, _ in self.columns)
        head = f"{'validation':<12}{'file':<{width}}{'size':>9}  {'max|Δ|':>8}  {'mean|Δ|':>8}  {'agree':>7}{heads}  {'drop':>6}"
        pt = self.pytorch
        cells = lambda m: "".join(f"  {100 * m.get(k, 0):6.2f}" for _, k in self.columns)  # noqa: E731
        rows = [head, f"{'pytorch':<12}{'model.safetensors':<{width}}{_mb(pt.get('size_bytes', 0)):>9}  {'':>8}  {'':>8}  "
                      f"{'':>7}{cells(pt)}  {'':>6}"]
        for v in self.variants:
            m = v.metrics
            rows.append(f"{v.name:<12}{v.file:<{width}}{_mb(v.size_bytes):>9}  {m['max_abs_diff']:8.1e}  {m['mean_abs_diff']:8.1e}  "
                        f"{100 * m['label_agreement']:6.2f}%{cells(m)}  {m['accuracy_drop_pts']:6.2f}")
        rows += [f"  {v.name}: {v.note}" for v in self.variants if v.note]
        return rows

    def _int8_lines(self) -> list[str]:
        """Each int8 try, the static notes and the fallback's steps (what stayed fp32, what it cost and bought)."""
        if not self.int8_tried:
            return []
        lines = ["  int8 tried: " + ", ".join(f"{t['scheme']} {t['accuracy_drop_pts']:+.2f} pts"
                                          for t in self.int8_tried)]
        lines += [f"  int8: {note}" for note in self.int8_notes]
        for s in self.int8_fallback.get("steps", []):
            lines.append(f"  fallback {s['step']}: + {s['added_block']} fp32 ({len(s['fp32_nodes'])} nodes): drop "
                         f"{s['accuracy_drop_pts']:.2f} pts ({s['drop_bought_pts']:+.2f} bought, "
                         f"{s['size_cost_bytes'] / 1e6:+.1f} MB){'  PASS' if s['passed'] else ''}")
        return lines

    def _latency_table(self) -> list[str]:
        s = self.benchmark_setup
        base = {r["batch"]: r["median_ms"] for r in self.benchmark if r["runtime"] == "pytorch"}
        sizes = ", ".join(f"{k} {v}" for k, v in s.items() if k in ("sequence", "image"))
        load = s.get("load", {})
        reliable = load.get("ratios_reliable", True)
        rows = [f"cpu         {describe_features(s['cpu'])}"] if "cpu" in s else []
        if load:
            rows.append(f"load        other processes {load['other_processes_cores']:.2f} cores on average while timed"
                        if reliable else unreliable_line(load["other_processes_cores"]))
        rows += [f"latency ms  ({s.get('threads')} threads, {sizes}; median / p90{'' if reliable else '; RAW, ratios unreliable'})",
                f"{'runtime':<12}{'batch 1':>17}{'batch 32':>19}{'items/s @32':>13}{'speedup @1':>12}{'speedup @32':>13}"]
        for name in dict.fromkeys(r["runtime"] for r in self.benchmark):
            by = {r["batch"]: r for r in self.benchmark if r["runtime"] == name}
            b1, b32 = by.get(1), by.get(32)
            cell = lambda r: f"{r['median_ms']:7.2f} / {r['p90_ms']:7.2f}" if r else "-"  # noqa: E731
            ratio = lambda b, r: f"{base[b] / r['median_ms']:.2f}x" if r and b in base and reliable else "-"  # noqa: E731
            rows.append(f"{name:<12}{cell(b1):>17}{cell(b32):>19}{(b32 or {}).get('throughput_per_s', 0):13.1f}"
                        f"{ratio(1, b1):>12}{ratio(32, b32):>13}")
        return rows


def reference_line(ref: dict) -> str:
    """'PyTorch reference: reused from training (inputs sha256 1a2b..., weights sha256 3c4d...)' or 'computed (why)'."""
    if ref.get("reused"):
        return (f"PyTorch reference: reused from training, step {ref.get('step')} (inputs sha256 {ref['inputs_sha256'][:12]}, "
                f"weights sha256 {ref['weights_sha256'][:12]})")
    return f"PyTorch reference: computed ({ref.get('why', 'no saved logits')})"


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"
