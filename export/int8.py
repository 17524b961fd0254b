"""Choosing the bundle's int8 model: static (calibrated) and dynamic int8 side by side, then the fp32 fallback.

Each family tries its schemes in order until one passes the accuracy gate (static: MinMax, then
Percentile, then Entropy; dynamic: variants.INT8_SCHEMES). Static int8 quantizes the exported graph;
dynamic int8 quantizes onnxruntime's fused transformer graph where there is one (its Attention becomes
QAttention: on MiniLM at batch 1 that is 5.0 ms where static QDQ takes 9.8 and fp32 13.7). Every try
is validated like any variant and listed in report.int8_tried. When several pass, they are timed
against each other at batch 1 and the fastest wins, or among those within SPEED_TIE of it the
smallest accuracy drop (``choose``): the gate has said each is accurate enough, so speed decides,
and a conv net's static int8 and a transformer's dynamic one both come out on top. When none
passes, the fallback (fallback.py) returns the costliest blocks of the closest try to fp32, one
more block a step, within ``--fallback-budget`` attempts, and lists each step in
report.int8_fallback. The chosen file becomes model.int8.onnx; the other tries are deleted.
"""

from __future__ import annotations

import time
from pathlib import Path

from .calibration import Calibration, CalibrationReader
from .errors import ExportError
from .report import VariantResult
from .variants import INT8_SCHEMES, STATIC_SCHEMES, Int8Scheme, has_embedding_tables

# Errors onnxruntime's static quantizer raises on a graph it cannot calibrate or rewrite (an op its
# shape inference or calibrator does not know, ...): static int8 is then skipped with a note.
STATIC_FAILURES = (ValueError, KeyError, TypeError, RuntimeError, IndexError, AttributeError, NotImplementedError)
SPEED_TIE = 1.05  # passing tries within 5% of the fastest median count as equally fast


def choose(tries: list[tuple[Int8Scheme, VariantResult]], limit: float,
           medians: dict[str, float] | None = None) -> tuple[Int8Scheme, VariantResult]:
    """Of the passing tries, those within SPEED_TIE of the fastest batch-1 median (``medians``: ms by
    file name; all of them without timings), the one with the smallest accuracy drop; with none
    passing, the smallest drop of all (a failed gate)."""
    drop = lambda t: t[1].metrics["accuracy_drop_pts"]  # noqa: E731
    passing = [t for t in tries if drop(t) <= limit]
    if passing and medians:
        fastest = min(medians[r.file] for _, r in passing)
        passing = [t for t in passing if medians[t[1].file] <= SPEED_TIE * fastest]
    return min(passing or tries, key=drop)


class Int8Search:
    """One export's int8 tries; ``run`` returns the chosen VariantResult, renamed to model.int8.onnx."""

    def __init__(self, bundle: Path, ref, report, say, limit: float, budget: int,
                 calibration: Calibration | None, input_names: list[str], fused: Path | None = None, timer=None):
        """``fused``: the fp32 graph after onnxruntime's transformer fusions (dynamic int8 quantizes it);
        ``timer``: {file name: path} -> {file name: batch-1 median ms}, timed against each other."""
        self.bundle, self.ref, self.report, self.say = bundle, ref, report, say
        self.limit, self.budget, self.calibration = limit, budget, calibration
        self.fp32 = bundle / "model.onnx"
        self.fused, self.timer = fused, timer
        self.reader = CalibrationReader(calibration.split.batches, input_names) if calibration else None
        self.tries: list[tuple[Int8Scheme, VariantResult]] = []

    def run(self) -> VariantResult:
        self.static_family()
        self.dynamic_family()
        scheme, chosen = choose(self.tries, self.limit, self.time_passing())
        if not self.passed(chosen):
            scheme, chosen = self.fallback(scheme, chosen)
        for _, r in self.tries:
            if r is not chosen:
                (self.bundle / r.file).unlink(missing_ok=True)
        (self.bundle / chosen.file).rename(self.bundle / "model.int8.onnx")
        chosen.file = "model.int8.onnx"
        chosen.note += f" (chosen; tried {', '.join(t['scheme'] for t in self.report.int8_tried)})"
        return chosen

    def passed(self, result: VariantResult) -> bool:
        return result.metrics["accuracy_drop_pts"] <= self.limit

    def time_passing(self) -> dict[str, float] | None:
        """Batch-1 medians of the passing tries, timed in turns, noted in report.int8_tried; None unless
        there are two to choose between."""
        passing = [(s, r) for s, r in self.tries if self.passed(r)]
        if self.timer is None or len(passing) < 2:
            return None
        self.say("quantize", f"timing the {len(passing)} int8 tries that pass the gate against each other at batch 1")
        medians = self.timer({r.file: self.bundle / r.file for _, r in passing})
        by_scheme = {t["scheme"]: t for t in self.report.int8_tried}
        for scheme, result in passing:
            by_scheme[scheme.name]["batch1_ms"] = round(medians[result.file], 3)
        return medians

    def static_family(self) -> None:
        if self.calibration is None:
            self.report.int8_notes.append("static int8 skipped: no calibration sample (the run's "
                                          "data/calibration.jsonl, or --calibration FILE)")
            return
        self.report.int8_notes.append(f"static int8 calibrated on {self.calibration.describe()}")
        for scheme in STATIC_SCHEMES:
            try:
                result = self.attempt(scheme)
            except STATIC_FAILURES as e:
                self.report.int8_notes.append(f"static int8 ({scheme.method}) skipped: onnxruntime could not "
                                              f"quantize this graph statically ({_first_line(e)}); dynamic int8 kept")
                return
            if self.passed(result):
                return

    def dynamic_family(self) -> None:
        source, note = self.fp32, ""
        if self.fused is not None:
            source, note = self.fused, "; from onnxruntime's fused transformer graph (QAttention)"
        for scheme in INT8_SCHEMES:
            if scheme.fp32_embeddings and not has_embedding_tables(self.fp32):
                continue  # nothing to leave in fp32: the same file as per-channel
            if self.passed(self.attempt(scheme, source, note)):
                return

    def attempt(self, scheme: Int8Scheme, source: Path | None = None, note: str = "") -> VariantResult:
        result = self.quantize_and_check(scheme, self.bundle / f"model.int8.{scheme.name}.onnx", note=note,
                                         source=source)
        self.tries.append((scheme, result))
        m = result.metrics
        self.report.int8_tried.append({"scheme": scheme.name, "static": scheme.static, "accuracy": m["accuracy"],
                                       "accuracy_drop_pts": m["accuracy_drop_pts"], "passed": self.passed(result)})
        return result

    def quantize_and_check(self, scheme: Int8Scheme, path: Path, exclude=(), note: str = "",
                           source: Path | None = None) -> VariantResult:
        """Quantizes ``source`` (the exported fp32 graph by default: the fallback's node names are its own)."""
        from .variants import quantize_int8, quantize_static_int8

        self.say("quantize", scheme.describe() + note)
        if scheme.static:
            quantize_static_int8(source or self.fp32, path, self.reader, scheme, exclude)
        else:
            quantize_int8(source or self.fp32, path, scheme, exclude)
        return self.ref.check("int8", path, scheme.describe() + note)

    def fallback(self, scheme: Int8Scheme, closest: VariantResult) -> tuple[Int8Scheme, VariantResult]:
        """Blocks of ``scheme`` back to fp32, worst first, one more a step, until the gate passes or the
        budget is spent; returns the passing step, else the smallest drop seen."""
        from .fallback import rank_blocks

        self.say("fallback", f"int8 failed the gate; ranking blocks of {scheme.name} by quantization error")
        static = next((r for s, r in self.tries if s.static), None)
        ranked = rank_blocks(self.fp32, self.bundle / static.file if static else None, self.reader)
        steps, best = [], (scheme, closest)
        for k in range(1, min(self.budget, len(ranked)) + 1):
            kept = ranked[:k]
            nodes = [n for b in kept for n in b["nodes"]]
            start = time.perf_counter()
            result = self.quantize_and_check(scheme, self.bundle / f"model.int8.fallback-{k}.onnx", nodes,
                                             f"; fp32 blocks: {', '.join(b['block'] for b in kept)}")
            self.tries.append((scheme, result))
            steps.append(_step(k, kept[-1], nodes, result, closest, time.perf_counter() - start, self.passed(result)))
            if result.metrics["accuracy_drop_pts"] < best[1].metrics["accuracy_drop_pts"]:
                best = (scheme, result)
            if self.passed(result):
                break
        self.report.int8_fallback = {"scheme": scheme.name, "budget": self.budget,
                                     "ranking": [{k: b[k] for k in ("block", "sqnr_db")} | {"nodes": len(b["nodes"])}
                                                 for b in ranked],
                                     "steps": steps, "passed": bool(steps and steps[-1]["passed"])}
        return best


def _step(k: int, added: dict, nodes: list[str], result: VariantResult, start: VariantResult,
          seconds: float, passed: bool) -> dict:
    """One fallback step: what went back to fp32, what it cost (size, time) and bought (drop)."""
    return {"step": k, "added_block": added["block"], "fp32_nodes": nodes, "accuracy": result.metrics["accuracy"],
            "accuracy_drop_pts": result.metrics["accuracy_drop_pts"],
            "drop_bought_pts": start.metrics["accuracy_drop_pts"] - result.metrics["accuracy_drop_pts"],
            "size_bytes": result.size_bytes, "size_cost_bytes": result.size_bytes - start.size_bytes,
            "seconds": round(seconds, 2), "passed": passed}


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:160]}" if text else type(e).__name__


def check_budget(budget: int) -> None:
    if budget < 1:
        raise ExportError(f"--fallback-budget {budget}: must be at least 1 (the fp32 fallback's attempts "
                          "after int8 fails the accuracy gate)")
