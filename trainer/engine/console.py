"""Headless output: one compact line per event, for nohup, Slurm and CI logs."""

from __future__ import annotations

import json
import sys

from ftui.rundir.diagnosis import diagnosis_line


def _duration(seconds) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _num(value, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, (int, float)) else str(value)


def _trainable(e: dict) -> str:
    """The strategy and what it trains, e.g. ``lora: 2,147/1,001,318 params trainable (0.21%)``."""
    total, trainable = e.get("params_total") or 0, e.get("params_trainable") or 0
    share = 100 * trainable / total if total else 0.0
    pct = f" ({share:.0f}%)" if share >= 10 else (f" ({share:.2g}%)" if total else "")
    return f"{e.get('strategy', 'full')}: {trainable:,}/{total:,} params trainable{pct}"


def _labels(e: dict) -> str:
    """"labels a,b,c"; NER runs name their entity types (21 BIO tags make an unreadable line)."""
    if e.get("entity_types"):
        return f"{len(e['labels'])} tags for entities {','.join(e['entity_types'])}"
    labels = e["labels"]
    return f"labels {','.join(labels)}" if len(labels) <= 12 else f"{len(labels)} labels {','.join(labels[:6])},..."


def _skipped(e: dict) -> str:
    """", 3 rows skipped (empty input or label)": rows read but not used are said, never silent."""
    n = e.get("skipped_rows") or 0
    return f", {n} row{'s' if n != 1 else ''} skipped (empty input or label)" if n else ""


def format_event(e: dict) -> str | None:
    """The line a person reads for an event, or None for events not worth a line."""
    kind, step = e.get("type"), e.get("step", 0)
    if kind == "run_start":
        return (f"ftui: {e['run']}  model {e['model']}  data {e['train_rows']} train / {e['validation_rows']} "
                f"validation rows{_skipped(e)}  {_labels(e)}  {e['total_steps']} steps  "
                f"{_trainable(e)}  {e['device']} {e['precision']}")
    if kind == "step":
        total = e.get("total_steps") or 0
        pct = f" {100 * step / total:3.0f}%" if total else ""
        tok = f" {e['tokens_per_s'] / 1000:.1f}k tok/s" if e.get("tokens_per_s") else ""
        return (f"step {step}/{total}{pct}  epoch {e.get('epoch', 0):.2f}  loss {_num(e.get('loss'), '.4f')}  "
                f"lr {_num(e.get('lr'), '.2e')}  {_num(e.get('samples_per_s'), '.1f')} samples/s{tok}  "
                f"ETA {_duration(e.get('eta_s'))}")
    if kind == "eval":
        metrics = "  ".join(f"{k} {v:.4f}" for k, v in e.get("metrics", {}).items())
        return f"eval step {step}  {metrics}  ({_num(e.get('duration_s'), '.1f')}s)"
    if kind == "checkpoint":
        best = "  best" if e.get("best") else ""
        value = f"  {e['metric']} {e['value']:.4f}" if e.get("value") is not None else ""
        return f"checkpoint {e['path']}  {e.get('size_bytes', 0) / 1e6:.1f} MB  ({e.get('reason')}){value}{best}"
    if kind == "status" and e.get("status") not in ("running", "evaluating", "saving"):
        message = f": {e['message']}" if e.get("message") else ""
        return f"status {e['status']}{message}"
    if kind == "log":
        return f"{e.get('level', 'info')}: {e.get('message')}"
    if kind == "ack":
        return f"command {e.get('cmd')} {'ok' if e.get('ok') else 'refused'}: {e.get('message')}"
    if kind == "diagnosis":
        return diagnosis_line(e)
    if kind == "summary":
        best = e.get("best_checkpoint") or "none"
        value = f" ({e['metric']} {e['best_value']:.4f})" if e.get("best_value") is not None else ""
        return f"done: {e.get('status')} at step {e.get('final_step')} in {_duration(e.get('train_runtime_s'))}; best checkpoint {best}{value}"
    return None


class ConsolePrinter:
    """An event listener that prints lines (or raw JSON events with ``as_json``)."""

    def __init__(self, as_json: bool = False, stream=None):
        self.as_json = as_json
        self.stream = stream or sys.stdout

    def __call__(self, event: dict) -> None:
        if self.as_json:
            line = json.dumps(event, separators=(",", ":"))
        else:
            if event.get("type") == "hardware":
                return
            line = format_event(event)
            if line is None:
                return
        print(line, file=self.stream, flush=True)
